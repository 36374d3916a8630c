import assert from "node:assert/strict";
import { test } from "node:test";
import { ForewarmLearner, LEARNER_DEFAULTS } from "../../src/plan/forewarm-learner.js";
import { padding, WINDOW_MARGINS, WindowMargin } from "../../src/plan/learnt-weights.js";
import { emptyChoice } from "../../src/plan/window-policy.js";
import { mulberry32 } from "../random.js";

/**
 * Decisions of 300 apps, one each at minute 0 with window (pw, pw + ka], then each app's next arrival
 * `gap` minutes later (or none); returns the margin chosen and what a decision at minute `gap` pads.
 */
function marginAfter(pw: number, ka: number, gap: number | null, price = 0.001) {
  const m = new WindowMargin(301, 10_080);
  const out = { pw: 0, ka: 0 };
  for (let app = 0; app < 300; app++) m.pad(app, 0, pw, ka, price, out);
  for (let app = 0; app < 300; app++) {
    if (gap !== null) m.arrived(app, gap);
  }
  // Every window is over by then: the sweep charges the ones no arrival came for.
  m.sweep(100_000);
  m.pad(300, 100_000, pw, ka, price, out);
  return { margin: m.margin, out: { ...out } };
}

test("WindowMargin pads windows only where arrivals fall just outside them", () => {
  // Arrivals well inside: padding would only add idle minutes.
  assert.equal(marginAfter(1380, 60, 1420).margin, 0);
  // Arrivals 5 minutes after the window's end (0.35 % of it): the smallest margin that reaches them
  // (0.5 %: 7 minutes at 1440) costs 14 idle minutes at 0.001 against a cold start each.
  const late = marginAfter(1380, 60, 1445);
  assert.equal(late.margin, 0.005);
  assert.deepEqual(late.out, { pw: 1380 - 7, ka: 60 + 14 });
  // No arrival at all: every margin's window idles throughout, the widest most.
  assert.equal(marginAfter(1380, 60, null).margin, 0);
  // A margin never adds more than 30 minutes a side.
  const far = marginAfter(10_000, 20, 10_100);
  assert.ok(far.out.pw >= 10_000 - 30 && far.out.pw + far.out.ka <= 10_020 + 30, JSON.stringify(far));
});

test("WindowMargin charges each candidate exactly what M1 would: misses and idle minutes up to the next arrival, or the whole window", () => {
  const r = mulberry32(11);
  const apps = 25;
  const margin = new WindowMargin(apps, 10_080);
  const expected = new Float64Array(WINDOW_MARGINS.length);
  // Each app's open decision: [minute, pw, ka, price].
  const open = new Map<number, [number, number, number, number]>();
  const charge = (d: [number, number, number, number], gap: number | null) => {
    const [, pw, ka, price] = d;
    WINDOW_MARGINS.forEach((m, k) => {
      const s = pw - padding(m, pw);
      const e = pw + ka + padding(m, pw + ka);
      if (gap === null) expected[k]! += price * (e - s);
      else expected[k]! += (s < gap && gap <= e ? 0 : 1) + price * Math.max(0, Math.min(e, gap - 1) - s);
    });
  };
  let minute = 0;
  const out = { pw: 0, ka: 0 };
  for (let step = 0; step < 4000; step++) {
    minute += Math.floor(r() * 3);
    const app = Math.floor(r() * apps);
    const last = open.get(app);
    if (last) {
      margin.arrived(app, minute - last[0]);
      charge(last, minute - last[0]);
      open.delete(app);
    }
    margin.sweep(minute);
    // What the sweep must have charged: windows whose widest candidate ended before this minute.
    for (const [a, d] of open) {
      if (d[0] + d[1] + d[2] + padding(0.05, d[1] + d[2]) < minute) {
        charge(d, null);
        open.delete(a);
      }
    }
    // Windows near and far, some never reached (the app may not come back for a long time).
    const pw = r() < 0.5 ? 0 : Math.floor(r() * 3000);
    const ka = r() < 0.1 ? 0 : 1 + Math.floor(r() * 200);
    const price = 0.0005 + r() * 0.01;
    margin.pad(app, minute, pw, ka, price, out);
    if (ka > 0) open.set(app, [minute, pw, ka, price]);
  }
  margin.sweep(Number.POSITIVE_INFINITY);
  for (const d of open.values()) charge(d, null);
  WINDOW_MARGINS.forEach((_, k) => {
    assert.ok(
      Math.abs(margin.cost[k]! - expected[k]!) < 1e-6,
      `margin ${k}: ${margin.cost[k]} against ${expected[k]}`,
    );
  });
});

test("WindowMargin: idle minutes weigh against near misses, and a window is charged only once it is over", () => {
  // Arrivals 5 minutes after the window's end, but an idle minute costs as much as a cold start.
  assert.equal(marginAfter(1380, 60, 1445, 1).margin, 0);
  const m = new WindowMargin(1, 10_080);
  const out = { pw: 0, ka: 0 };
  m.pad(0, 100, 10, 40, 0.01, out);
  // The widest candidate ends at 100 + 50 + padding(5 %, 50) = 153: still open at minute 153.
  m.sweep(153);
  assert.deepEqual([...m.cost], new Array(WINDOW_MARGINS.length).fill(0));
  m.sweep(154);
  assert.ok(Math.abs(m.cost[0]! - 0.01 * 40) < 1e-12 && m.cost[6]! > m.cost[0]!, String([...m.cost]));
});

test("marginAdapt: a daily job that drifts by minutes is caught by a padded window, a clockwork timer is not padded", () => {
  const run = (marginAdapt: number, gapOf: (k: number) => number) => {
    const learner = new ForewarmLearner(40, { ...LEARNER_DEFAULTS, marginAdapt });
    const events: [number, number][] = [];
    for (let app = 0; app < 40; app++) {
      let minute = app * 7;
      for (let k = 0; k < 30; k++) {
        events.push([minute, app]);
        minute += gapOf(app * 30 + k);
      }
    }
    events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    const window = new Map<number, [number, number]>();
    let misses = 0;
    for (const [minute, app] of events) {
      const w = window.get(app);
      if (w && !(w[0] < minute && minute <= w[1])) misses++;
      const c = learner.decide(app, minute, 0.002, emptyChoice());
      window.set(app, [minute + c.pw, minute + c.pw + c.ka]);
    }
    return { misses, margin: learner.windowMargin };
  };
  // Daily jobs whose submission drifts: each day ±0–12 minutes from the last (a fixed pseudo-random walk).
  let seed = 3;
  const drift = Array.from({ length: 1200 }, () => {
    seed = (seed * 16807) % 2147483647;
    return 1440 + Math.round(((seed / 2147483647) * 2 - 1) * 12);
  });
  const padded = run(1, (i) => drift[i]!);
  const plain = run(0, (i) => drift[i]!);
  assert.ok(padded.margin > 0, `margin ${padded.margin}`);
  assert.ok(padded.misses < plain.misses, `${padded.misses} misses padded against ${plain.misses}`);
  // Hourly timers: nothing to pad.
  assert.equal(run(1, () => 60).margin, 0);
});

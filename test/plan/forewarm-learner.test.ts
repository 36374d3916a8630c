import assert from "node:assert/strict";
import { test } from "node:test";
import { ForewarmLearner, LEARNER_DEFAULTS } from "../../src/plan/forewarm-learner.js";
import { emptyAtoms } from "../../src/plan/idle-distribution.js";
import { mixAtoms, PooledGaps } from "../../src/plan/pooled-gaps.js";
import { RatioPrior } from "../../src/plan/ratio-prior.js";
import { emptyChoice } from "../../src/plan/window-policy.js";

/** Busy minutes of several apps, replayed in time order through a learner; returns the windows. */
function replay(learner: ForewarmLearner, apps: number[][], price: number): string[] {
  const events: [number, number][] = [];
  apps.forEach((ms, a) => {
    for (const m of ms) events.push([m, a]);
  });
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out = emptyChoice();
  return events.map(([m, a]) => {
    const c = learner.decide(a, m, price, out);
    return `${a}@${m}:${c.pw}+${c.ka}`;
  });
}

const every = (from: number, to: number, step: number) =>
  Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

test("ratio prior: apps whose next gap equals the previous one make an hourly timer settle at once", () => {
  const r = new RatioPrior(10_080, [1, 2, 4, 8], 5);
  for (let k = 0; k < 50; k++) r.add(1, 30, 30); // other timers: next = previous
  const p = r.priorInto(1, 60, emptyAtoms())!;
  assert.deepEqual([p.size, p.gap[0], p.prob[0], p.tail], [1, 60, 1, 0]);
  // Too few ratios: no opinion.
  assert.equal(new RatioPrior(10_080).priorInto(1, 60, emptyAtoms()), undefined);
});

test("user pools: a new app of a user whose apps come back after 1440 minutes is prewarmed for it", () => {
  const pool = new PooledGaps(10_080, [0, 1], 1);
  for (let app = 0; app < 40; app++) {
    pool.enter(0, Number.NaN, 0, 7);
    pool.complete(0, Number.NaN, 0, 1440, 7);
  }
  for (let app = 0; app < 400; app++) {
    pool.enter(0, Number.NaN, 0, 8);
    pool.complete(0, Number.NaN, 0, 3, 8);
  }
  const mine = pool.prior(1500, 0, Number.NaN, 7);
  let near1440 = 0;
  for (let i = 0; i < mine.size; i++) if (mine.gap[i] === 1440) near1440 += mine.prob[i]!;
  // 40 own samples against 4 pseudo-samples of the population (which says 3 minutes).
  assert.ok(near1440 > 0.85, `P(1440) = ${near1440}`);
  const other = pool.prior(1500, 0, Number.NaN, 9); // unknown user: the population
  assert.equal(other.gap[0], 3);
});

test("mixAtoms merges by gap", () => {
  const a = emptyAtoms();
  const b = emptyAtoms();
  a.gap.set([1, 5]);
  a.prob.set([0.5, 0.5]);
  a.size = 2;
  a.tail = 0;
  b.gap.set([5, 9]);
  b.prob.set([0.5, 0.25]);
  b.size = 2;
  b.tail = 0.25;
  const m = mixAtoms(a, 0.5, b, 0.5, emptyAtoms());
  assert.deepEqual([...m.gap.subarray(0, m.size)], [1, 5, 9]);
  assert.deepEqual([...m.prob.subarray(0, m.size)], [0.25, 0.5, 0.125]);
  assert.equal(m.tail, 0.125);
});

test("window caching changes little: settled timers keep their window, decisions stay close to uncached", () => {
  const apps = [every(0, 2000, 60), every(5, 2000, 30), every(3, 2000, 1), every(7, 2000, 17)];
  const cached = replay(new ForewarmLearner(apps.length), apps, 0.001);
  const uncached = replay(new ForewarmLearner(apps.length, { ...LEARNER_DEFAULTS, settle: 0 }), apps, 0.001);
  assert.equal(cached.length, uncached.length);
  const same = cached.filter((d, i) => d === uncached[i]).length;
  assert.ok(same / cached.length > 0.95, `${same} of ${cached.length} identical`);
  // The hourly timer settles on the oracle's window (prewarm 59, keep 1).
  assert.ok(cached.includes("0@1980:59+1"), cached.filter((d) => d.startsWith("0@19")).join(" "));
});

test("a bursty app switching previous-gap classes reuses each class's window instead of recomputing", () => {
  // Bursts of three busy minutes 5 apart, an hour between bursts: the class of the previous gap
  // (5 or ~50) changes at every second decision.
  const burst: number[] = [];
  for (let b = 0; b < 40; b++) burst.push(b * 60, b * 60 + 5, b * 60 + 10);
  const cached = new ForewarmLearner(1);
  const decisions = replay(cached, [burst], 0.001);
  const uncached = replay(new ForewarmLearner(1, { ...LEARNER_DEFAULTS, settle: 0 }), [burst], 0.001);
  // Without the per-class windows every class switch recomputed: 85 of 120 (here 45).
  assert.ok(cached.computed < burst.length / 2, `${cached.computed} of ${burst.length} computed`);
  const same = decisions.filter((d, i) => d === uncached[i]).length;
  assert.ok(same / decisions.length > 0.95, `${same} of ${decisions.length} identical`);
  // After the second gap of 5 the next is the hour's rest (within 50 minutes), as computed uncached.
  assert.equal(decisions.at(-1), "0@2350:4+46");
  assert.equal(uncached.at(-1), "0@2350:4+46");
});

/** One app's gaps through a learner: its M1 misses and idle minutes, and the last window's P(miss). */
function replayGaps(options: Partial<typeof LEARNER_DEFAULTS>, gaps: number[], price: number) {
  // The prior's weight held fixed: one app's own gaps would move it too.
  const learner = new ForewarmLearner(1, { ...LEARNER_DEFAULTS, settle: 0, priorAdapt: 0, ...options });
  let minute = 0;
  let misses = 0;
  let idle = 0;
  let choice = learner.decide(0, minute, price, emptyChoice());
  for (const gap of gaps) {
    const [s, e] = [choice.pw, choice.pw + choice.ka];
    if (!(s < gap && gap <= e)) misses++;
    idle += Math.max(0, Math.min(e, gap - 1) - s);
    minute += gap;
    choice = learner.decide(0, minute, price, emptyChoice());
  }
  return { misses, idle, pMiss: choice.pMiss };
}

test("a class window that missed is recomputed: when the gap after one class moves, the cache follows", () => {
  // 600 gaps alternating 5 and 50, then 200 alternating 50 and 6 (6 is in 5's class): after a gap of
  // 50 the next is now 6, and after 6 (class of 5) it is 50 — the window kept for class 50 (next: 5)
  // misses at first and must not be handed out again.
  const gaps = [
    ...Array.from({ length: 600 }, (_, k) => (k % 2 ? 50 : 5)),
    ...Array.from({ length: 200 }, (_, k) => (k % 2 ? 6 : 50)),
  ];
  const lateMisses = (settle: number) => {
    const learner = new ForewarmLearner(1, { ...LEARNER_DEFAULTS, settle, priorAdapt: 0 });
    let minute = 0;
    let misses = 0;
    let choice = learner.decide(0, minute, 0.05, emptyChoice());
    gaps.forEach((gap, k) => {
      const [s, e] = [choice.pw, choice.pw + choice.ka];
      if (k >= 600 && !(s < gap && gap <= e)) misses++;
      minute += gap;
      choice = learner.decide(0, minute, 0.05, emptyChoice());
    });
    return misses;
  };
  const uncached = lateMisses(0);
  const cached = lateMisses(LEARNER_DEFAULTS.settle);
  assert.ok(cached <= uncached + 2, `${cached} late misses cached against ${uncached} uncached`);
});

test("a cached window is not reused at another price", () => {
  const learner = new ForewarmLearner(1);
  let minute = 0;
  for (let k = 0; k < 60; k++, minute += 30) learner.decide(0, minute, 0.001, emptyChoice());
  const before = learner.computed;
  learner.decide(0, minute, 0.001, emptyChoice());
  assert.equal(learner.computed, before, "settled timer at the same price: cached");
  learner.decide(0, minute + 30, 0.002, emptyChoice());
  assert.equal(learner.computed, before + 1, "another price: recomputed");
});

test("condAdapt trusts the previous-gap conditioning where it has predicted the app's gaps, and fades it where not", () => {
  // Strictly alternating 5 and 50: the previous gap tells the next one.
  const alternating = Array.from({ length: 200 }, (_, k) => (k % 2 ? 50 : 5));
  const fixed = replayGaps({ cond: 8, condAdapt: 0 }, alternating, 0.01);
  const adaptive = replayGaps({ cond: 8, condAdapt: 0.5 }, alternating, 0.01);
  assert.ok(adaptive.pMiss < fixed.pMiss / 4, `P(miss) ${adaptive.pMiss} against ${fixed.pMiss}`);
  assert.ok(adaptive.idle < fixed.idle, `idle ${adaptive.idle} against ${fixed.idle}`);
  // The same two gaps in a (seeded) random order: the previous gap tells nothing, and trusting its
  // few samples per class misses more than the whole histogram does.
  let seed = 7;
  const random = Array.from({ length: 200 }, () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 < 0.5 ? 5 : 50;
  });
  const trusting = replayGaps({ cond: 2, condAdapt: 0 }, random, 0.01);
  const faded = replayGaps({ cond: 2, condAdapt: 0.5 }, random, 0.01);
  assert.ok(faded.misses < trusting.misses, `misses ${faded.misses} against ${trusting.misses}`);
});

test("priorAdapt weighs the pooled prior up where apps share their gaps and down where each keeps its own", () => {
  /** 80 apps of 12 busy minutes each, `gapOf(app, k)` apart, through one learner: its prior weights. */
  const weights = (gapOf: (app: number, k: number) => number) => {
    const learner = new ForewarmLearner(80);
    const events: [number, number][] = [];
    for (let app = 0; app < 80; app++) {
      let minute = app;
      for (let k = 0; k < 12; k++) {
        events.push([minute, app]);
        minute += gapOf(app, k);
      }
    }
    events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (const [minute, app] of events) learner.decide(app, minute, 0.001, emptyChoice());
    return [1, 2, 4, 8].map((gaps) => learner.priorWeight(gaps));
  };
  let seed = 11;
  const shared = [5, 10, 20, 40, 80];
  // Every app draws its gaps from the same spread: a few own gaps miss what the pool has seen.
  const alike = weights(() => {
    seed = (seed * 16807) % 2147483647;
    return shared[Math.floor((seed / 2147483647) * shared.length)]!;
  });
  // Every app keeps its own period: after one gap its own histogram knows it, the pool only blurs it.
  const periods = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83];
  const apart = weights((app) => periods[app % periods.length]! * (1 + (app >> 4)));
  const prior = LEARNER_DEFAULTS.prior;
  for (const w of alike) assert.ok(w > prior, `shared gaps: weights ${alike}`);
  for (const w of apart) assert.ok(w < prior, `own periods: weights ${apart}`);
});

test("a learner's decisions up to minute T do not depend on what comes after T", () => {
  const apps = [every(0, 3000, 60), every(5, 3000, 7), [10, 11, 500, 501, 2900], every(100, 3000, 1440)];
  const user = Int32Array.from([0, 0, 1, 1]);
  const full = replay(new ForewarmLearner(apps.length, LEARNER_DEFAULTS, user), apps, 0.002);
  const cut = apps.map((ms) => ms.filter((m) => m <= 1000));
  const part = replay(new ForewarmLearner(apps.length, LEARNER_DEFAULTS, user), cut, 0.002);
  assert.deepEqual(
    part,
    full.filter((d) => Number(d.split("@")[1]!.split(":")[0]) <= 1000),
  );
});

test("a window memoised on a new app's prior comes with that prior's numbers, not the caller's old ones", () => {
  const learner = new ForewarmLearner(4);
  // Other apps' gaps of 3 minutes make a prior worth loading for.
  for (let m = 0; m < 60; m += 3) learner.decide(0, m, 1e-4, emptyChoice());
  const first = learner.decide(1, 61, 1e-4, emptyChoice());
  assert.ok(
    first.ka > 0 && first.pMiss < 1,
    `a loaded window (${first.pw}+${first.ka}, P(miss) ${first.pMiss})`,
  );
  // Same prior, same price: the memoised window, explained by the same numbers.
  const second = learner.decide(2, 61, 1e-4, emptyChoice());
  assert.deepEqual(
    [second.pw, second.ka, second.pMiss, second.expectedIdle, second.expectedCost],
    [first.pw, first.ka, first.pMiss, first.expectedIdle, first.expectedCost],
  );
});

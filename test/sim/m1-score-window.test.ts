import assert from "node:assert/strict";
import { test } from "node:test";
import { runM1 } from "../../src/sim/m1.js";
import { percentile, sortedCopy } from "../../src/sim/percentile.js";
import { parsePolicySpec } from "../../src/sim/policies/registry.js";
import type { Decision, M1Policy } from "../../src/sim/policies/types.js";
import { goalPoint } from "../../src/sim/report-html.js";
import { replayLoaded } from "../../src/sim/run.js";
import type { MinuteTrace } from "../../src/sim/trace.js";
import { mulberry32 } from "../random.js";
import { loadOnce } from "./traces.js";

/** Random apps: busy minutes with gaps of 1–40, counts 1–3, memory 1–500 MB. */
function randomTrace(seed: number): MinuteTrace {
  const rnd = mulberry32(seed);
  const apps = 6;
  const minutes: number[] = [];
  const counts: number[] = [];
  const offsets = [0];
  for (let a = 0; a < apps; a++) {
    let m = Math.floor(rnd() * 60);
    const n = 1 + Math.floor(rnd() * 25);
    for (let i = 0; i < n; i++) {
      minutes.push(m);
      counts.push(1 + Math.floor(rnd() * 3));
      m += 1 + Math.floor(rnd() * 40);
    }
    offsets.push(minutes.length);
  }
  return {
    appNames: Array.from({ length: apps }, (_, a) => `app${a}`),
    appMemoryMb: Float64Array.from({ length: apps }, () => 1 + Math.floor(rnd() * 500)),
    appOffset: Int32Array.from(offsets),
    busyMinute: Int32Array.from(minutes),
    busyCount: Float64Array.from(counts),
    invocations: counts.reduce((s, c) => s + c, 0),
  };
}

/** Windows drawn from (app, minute): the same decisions whatever else the run does. */
class DrawnWindows implements M1Policy {
  readonly kind = "causal";
  afterBusyMinute(app: number, minute: number): Decision {
    const r = mulberry32(app * 100_003 + minute)();
    // Now and then never unload (ka = ∞): its idle minutes count up to the trace's end.
    if (Math.floor(r * 1000) % 23 === 0) return { pw: Math.floor(r * 5), ka: Number.POSITIVE_INFINITY };
    return { pw: Math.floor(r * 7) % 4 === 0 ? 0 : Math.floor(r * 20), ka: Math.floor((r * 997) % 30) };
  }
}

/** M1 scored after minute T by walking every minute of every app (the definition, not the engine). */
function scoreByMinute(
  trace: MinuteTrace,
  after: number,
): { cold: number; waste: number; newApps: number; apps: number; perApp: number[] } {
  const policy = new DrawnWindows();
  const end = Math.max(...trace.busyMinute);
  let cold = 0;
  let waste = 0;
  let newApps = 0;
  // Per app with scored invocations: its cold % over them.
  const perApp: number[] = [];
  for (let a = 0; a < trace.appNames.length; a++) {
    const busy = new Map<number, number>();
    for (let i = trace.appOffset[a]!; i < trace.appOffset[a + 1]!; i++)
      busy.set(trace.busyMinute[i]!, trace.busyCount[i]!);
    let appCold = 0;
    let appInvocations = 0;
    const first = trace.busyMinute[trace.appOffset[a]!]!;
    if (first > after) newApps++;
    // loaded[m]: the app is loaded in minute m under the latest decision made before m.
    let window: [number, number] | undefined;
    for (let m = first; m <= end; m++) {
      const loaded = window !== undefined && window[0] < m && m <= window[1];
      if (busy.has(m)) {
        if (m > after && !loaded) appCold++;
        if (m > after) appInvocations += busy.get(m)!;
        const d = policy.afterBusyMinute(a, m);
        window = [m + d.pw, m + d.pw + d.ka];
      } else if (loaded && m > after) waste += trace.appMemoryMb[a]!;
    }
    cold += appCold;
    if (appInvocations > 0) perApp.push((100 * appCold) / appInvocations);
  }
  return { cold, waste, newApps, apps: perApp.length, perApp };
}

test("M1 scored after minute T counts only later busy and idle minutes, as a minute-by-minute walk does", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const trace = randomTrace(seed);
    const end = Math.max(...trace.busyMinute);
    for (const after of [-1, 0, 17, Math.floor(end / 2), end - 1]) {
      const [s] = runM1(trace, [{ label: "drawn", policy: new DrawnWindows() }], { scoreAfterMinute: after });
      const want = scoreByMinute(trace, after);
      assert.equal(s!.coldStarts, want.cold, `seed ${seed} after ${after}: cold starts`);
      assert.equal(s!.wastedMbMin, want.waste, `seed ${seed} after ${after}: waste`);
      assert.equal(s!.avoidableColdStarts, want.cold - want.newApps, `seed ${seed} after ${after}`);
      let invocations = 0;
      for (let i = 0; i < trace.busyMinute.length; i++)
        if (trace.busyMinute[i]! > after) invocations += trace.busyCount[i]!;
      assert.equal(s!.invocations, invocations);
      // Apps, cold % and per-app percentiles over the scored invocations only.
      assert.equal(s!.apps, want.apps, `seed ${seed} after ${after}: apps`);
      assert.ok(Math.abs(s!.coldPctOverall - (100 * want.cold) / invocations) < 1e-9);
      const sorted = sortedCopy(want.perApp);
      assert.ok(
        Math.abs(s!.appColdPct.p50 - percentile(sorted, 50)) < 1e-9,
        `seed ${seed} after ${after}: p50`,
      );
      assert.ok(
        Math.abs(s!.appColdPct.p90 - percentile(sorted, 90)) < 1e-9,
        `seed ${seed} after ${after}: p90`,
      );
      assert.equal(s!.scoredAfterMinute, after);
    }
    // No window is the whole trace.
    const [whole] = runM1(trace, [{ label: "drawn", policy: new DrawnWindows() }]);
    const want = scoreByMinute(trace, Number.NEGATIVE_INFINITY);
    assert.equal(whole!.coldStarts, want.cold);
    assert.equal(whole!.wastedMbMin, want.waste);
  }
});

test("the oracle has no avoidable cold start and no waste in a scored window either", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const trace = randomTrace(seed);
    const spec = parsePolicySpec("oracle");
    const after = Math.floor(Math.max(...trace.busyMinute) / 3);
    const [s] = runM1(
      trace,
      [{ label: "oracle", policy: spec.definition.create(spec.params, { appCount: 6 }) }],
      {
        scoreAfterMinute: after,
      },
    );
    assert.equal(s!.avoidableColdStarts, 0);
    assert.equal(s!.wastedMbMin, 0);
  }
});

test("a held-out replay scores the listed policies and the references on the same later minutes; bad windows are named", async () => {
  const loaded = await loadOnce("azure2019");
  const whole = replayLoaded(loaded, { policies: "fixed:ka=10,hybrid" });
  // The trace's own minute numbers: its 8 hours start at minute 480.
  const half = (Math.min(...loaded.minutes.busyMinute) + Math.max(...loaded.minutes.busyMinute)) >> 1;
  const held = replayLoaded(loaded, { policies: "fixed:ka=10,hybrid", scoreAfterMinute: half });
  // The second half's counts are a part of the whole's, and its references are scored alike.
  for (let i = 0; i < 2; i++) {
    const w = whole.m1![i]!;
    const h = held.m1![i]!;
    assert.ok(h.coldStarts < w.coldStarts && h.coldStarts > 0, h.name);
    assert.ok(h.wastedMbMin < w.wastedMbMin && h.wastedMbMin > 0, h.name);
    assert.ok(h.invocations < w.invocations, h.name);
  }
  // Run implicitly (not listed), the references are scored over the same minutes as when listed.
  const implicit = replayLoaded(loaded, { policies: "fixed:ka=60", scoreAfterMinute: half });
  assert.equal(implicit.references!.hybrid.coldStarts, held.m1![1]!.coldStarts);
  assert.equal(implicit.references!.hybrid.wastedMbMin, held.m1![1]!.wastedMbMin);
  assert.equal(implicit.references!.fixed10.wastedMbMin, held.m1![0]!.wastedMbMin);
  assert.throws(
    () => replayLoaded(loaded, { policies: "hybrid", scoreAfterMinute: half + 0.5 }),
    /expected a whole minute/,
  );
  assert.throws(
    () => replayLoaded(loaded, { policies: "hybrid", scoreAfterMinute: 10_000 }),
    /--score-after-minute 10000: no invocations after it/,
  );
  assert.throws(
    () => replayLoaded(loaded, { policies: "fixed:ka=10", model: "m2", scoreAfterMinute: 5 }),
    /--score-after-minute is for M1 only/,
  );
});

test("the report's goal point sits at half hybrid's avoidable cold starts above the oracle's, scored window or not", async () => {
  const loaded = await loadOnce("azure2019");
  const half = (Math.min(...loaded.minutes.busyMinute) + Math.max(...loaded.minutes.busyMinute)) >> 1;
  for (const scoreAfterMinute of [undefined, half]) {
    const { m1 } = replayLoaded(loaded, { policies: "hybrid,oracle", scoreAfterMinute });
    const [hybrid, oracle] = m1!;
    const p = goalPoint(hybrid!);
    assert.equal(p.y, oracle!.coldStarts + hybrid!.avoidableColdStarts / 2);
    assert.equal(p.x, hybrid!.wastedMbMin / 2);
  }
});

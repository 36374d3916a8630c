import assert from "node:assert/strict";
import { test } from "node:test";
import { runM1 } from "../../src/sim/m1.js";
import { parsePolicySpec } from "../../src/sim/policies/registry.js";
import type { AnyM1Policy, PolicyContext } from "../../src/sim/policies/types.js";
import type { MinuteTrace } from "../../src/sim/trace.js";
import { mulberry32 } from "../random.js";

/** A trace of one app per list of busy minutes (ascending), one invocation each. */
function traceOf(apps: number[][], memory?: number[]): MinuteTrace {
  const appOffset = new Int32Array(apps.length + 1);
  apps.forEach((m, a) => {
    appOffset[a + 1] = appOffset[a]! + m.length;
  });
  const busyMinute = Int32Array.from(apps.flat());
  return {
    appNames: apps.map((_, a) => `app${a}`),
    appMemoryMb: Float64Array.from(memory ?? apps.map(() => 1)),
    appOffset,
    busyMinute,
    busyCount: new Float64Array(busyMinute.length).fill(1),
    invocations: busyMinute.length,
  };
}

function policy(text: string, context: PolicyContext): AnyM1Policy {
  const spec = parsePolicySpec(text);
  spec.definition.check?.(spec.params, spec.label);
  return spec.definition.create(spec.params, context);
}

test("hindsight (in-sample) holds each app's best single window: no constant (pw, ka) costs less", () => {
  for (const seed of [1, 2, 3]) {
    const rnd = mulberry32(seed);
    // Gaps from a mixture (a timer around 6 minutes and rare long pauses), as a real app's.
    const minutes = [0];
    for (let i = 0; i < 40; i++)
      minutes.push(minutes.at(-1)! + (rnd() < 0.8 ? 5 + Math.floor(rnd() * 3) : 20 + Math.floor(rnd() * 25)));
    const maxGap = Math.max(...minutes.slice(1).map((m, i) => m - minutes[i]!));
    for (const [price, memory] of [
      [20, 100],
      [60, 100],
      [20, 400], // 4× the memory: the window of price 80,
    ] as const) {
      const trace = traceOf([minutes], [memory]);
      const context: PolicyContext = { appCount: 1, appMemoryMb: trace.appMemoryMb };
      // Forewarm's price unit: price/1000 cold starts per idle minute of a 100 MB app.
      const unit = price / 1000 / 100;
      const cost = (s: { coldStarts: number; wastedMbMin: number }) => s.coldStarts + unit * s.wastedMbMin;
      const [h] = runM1(trace, [{ label: "h", policy: policy(`hindsight:price=${price}`, context) }]);
      let best = Number.POSITIVE_INFINITY;
      for (let pw = 0; pw <= maxGap; pw++)
        for (let ka = 0; pw + ka <= maxGap; ka++) {
          const fixed: AnyM1Policy = { kind: "causal", afterBusyMinute: () => ({ pw, ka }) };
          const [s] = runM1(trace, [{ label: "c", policy: fixed }]);
          best = Math.min(best, cost(s!));
        }
      assert.ok(
        Math.abs(cost(h!) - best) < 1e-9,
        `seed ${seed} price ${price}: hindsight ${cost(h!)} vs best ${best}`,
      );
    }
  }
});

test("hindsight loo=1 leaves out the gap it predicts; in-sample does not", () => {
  // app0: one gap only; app1: a clockwork timer every 5 minutes.
  const trace = traceOf([
    [0, 37],
    [0, 5, 10, 15, 20, 25, 30, 35],
  ]);
  const context: PolicyContext = { appCount: 2 };
  const [inSample, loo] = runM1(trace, [
    { label: "in", policy: policy("hindsight", context) },
    { label: "loo", policy: policy("hindsight:loo=1", context) },
  ]);
  assert.equal(inSample!.avoidableColdStarts, 0);
  assert.equal(inSample!.wastedMbMin, 0, "a single known gap is pre-warmed exactly");
  // Without its one gap app0 knows nothing and holds nothing; app1's timer is still known.
  assert.equal(loo!.avoidableColdStarts, 1);
});

test("hindsight tod=2 knows a daily rhythm that the whole-trace distribution blurs", () => {
  // Busy at 09:00 and 17:00 every day for 12 days: 480 minutes after the morning, 960 after the evening.
  const minutes: number[] = [];
  for (let d = 0; d < 12; d++) minutes.push(d * 1440 + 540, d * 1440 + 1020);
  const trace = traceOf([minutes]);
  const context: PolicyContext = { appCount: 1 };
  // Dear memory: holding from 480 to 960 is not worth it, so one window cannot catch both gaps.
  const [plain, tod] = runM1(trace, [
    { label: "loo", policy: policy("hindsight:loo=1,price=20", context) },
    { label: "tod", policy: policy("hindsight:loo=1,tod=2,price=20", context) },
  ]);
  assert.ok(
    plain!.avoidableColdStarts >= 11,
    `plain misses one gap of each day: ${plain!.avoidableColdStarts}`,
  );
  assert.equal(tod!.avoidableColdStarts, 0);
  assert.ok(tod!.wastedMbMin < plain!.wastedMbMin);
});

test("hindsight parameters are checked by name", () => {
  const context: PolicyContext = { appCount: 1 };
  assert.throws(() => policy("hindsight:loo=2", context), /loo must be 0 or 1/);
  assert.throws(() => policy("hindsight:tod=6", context), /tod needs loo=1/);
  assert.throws(() => policy("hindsight:loo=1,tod=2.5", context), /tod must be a whole number/);
});

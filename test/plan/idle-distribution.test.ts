import assert from "node:assert/strict";
import { test } from "node:test";
import { InterArrivalForecaster } from "../../src/forecast/models/interarrival.js";
import {
  arrivalProbabilities,
  emptyAtoms,
  IDLE_DISTRIBUTION_DEFAULTS,
  nextArrivalGivenIdle,
} from "../../src/plan/idle-distribution.js";
import { PooledGaps } from "../../src/plan/pooled-gaps.js";
import { IdleDistribution } from "./idle-distribution-reference.js";

function probAt(d: IdleDistribution, gap: number): number {
  const a = d.toAtoms(emptyAtoms());
  for (let i = 0; i < a.size; i++) if (a.gap[i] === gap) return a.prob[i]!;
  return 0;
}

test("the incremental histogram gives InterArrivalForecaster's probabilities on the same history", () => {
  const range = 120;
  const busy = [0, 1, 2, 7, 9, 40, 41, 46, 48, 79, 80, 250, 251, 256];
  const arrivals = new Array(busy[busy.length - 1]! + 1).fill(0);
  for (const m of busy) arrivals[m] = 2;
  const fitted = new InterArrivalForecaster({ rangeMinutes: range }).fit({
    user: "u",
    taskType: "t",
    startMinute: 0,
    arrivals,
  });
  const d = new IdleDistribution({ ...IDLE_DISTRIBUTION_DEFAULTS, range, changeRun: 0 });
  for (let i = 1; i < busy.length; i++) d.add(busy[i]! - busy[i - 1]!);
  const atoms = d.toAtoms(emptyAtoms());
  const last = busy[busy.length - 1]!;
  for (const idle of [0, 1, 3, 20]) {
    const f = fitted.predict({ fromMinute: last + idle + 1, horizon: 60, level: 0.8 });
    const mine = arrivalProbabilities(atoms, idle, 60);
    for (const [k, m] of f.minutes.entries()) {
      assert.ok(Math.abs(m.pAny - Math.min(1, mine[k]!)) < 1e-12, `idle ${idle} k ${k}`);
    }
  }
  // The first-arrival distribution given idleSoFar sums with the out-of-range mass to 1.
  const first = nextArrivalGivenIdle(atoms, 3, range);
  const outOfRange = 1 / (busy.length - 1);
  const survivalAt3 =
    atoms.tail +
    [...atoms.gap.subarray(0, atoms.size)].reduce((s, g, i) => s + (g > 3 ? atoms.prob[i]! : 0), 0);
  assert.ok(Math.abs(first.reduce((s, v) => s + v, 0) + outOfRange / survivalAt3 - 1) < 1e-12);
});

test("change detection forgets the old period; without it the old one dominates", () => {
  const withChange = new IdleDistribution();
  const without = new IdleDistribution({ ...IDLE_DISTRIBUTION_DEFAULTS, changeRun: 0 });
  for (const d of [withChange, without]) {
    for (let k = 0; k < 30; k++) d.add(10);
    for (let k = 0; k < 4; k++) d.add(100);
  }
  assert.equal(withChange.changes, 1);
  assert.ok(probAt(withChange, 100) > 0.7, `after the change: ${probAt(withChange, 100)}`);
  assert.ok(probAt(without, 100) < 0.15);
  // A single outlier is not a change.
  const one = new IdleDistribution();
  for (let k = 0; k < 30; k++) one.add(10);
  one.add(500);
  one.add(10);
  assert.equal(one.changes, 0);
});

test("exponential decay weights recent gaps more, in O(1) per gap", () => {
  const d = new IdleDistribution({ ...IDLE_DISTRIBUTION_DEFAULTS, decay: 0.5, changeRun: 0 });
  d.add(5);
  d.add(7);
  // Weights 1 and 2: P(7) = 2/3.
  assert.ok(Math.abs(probAt(d, 7) - 2 / 3) < 1e-12);
  for (let k = 0; k < 2000; k++) d.add(7); // forces a rescale without overflow
  assert.ok(probAt(d, 7) > 0.999999 && Number.isFinite(d.effectiveSamples()));
});

test("pooled prior: gaps still open count (Kaplan–Meier), so early short gaps do not look certain", () => {
  const pool = new PooledGaps(1000, [0, 1], 1);
  for (let app = 0; app < 100; app++) pool.enter(0, Number.NaN, 0);
  for (let app = 0; app < 30; app++) pool.complete(0, Number.NaN, 0, 1);
  const prior = pool.prior(100, 0, Number.NaN);
  assert.equal(prior.gap[0], 1);
  assert.ok(Math.abs(prior.prob[0]! - 0.3) < 1e-12, `P(1) = ${prior.prob[0]}`);
  // The unknown rest is spread beyond what the pool has seen, not declared "never".
  assert.ok(prior.gap[prior.size - 1]! > 100 && prior.tail < 1e-9);
});

test("pooled prior by scale: apps that started with 60-minute gaps predict 60, not busy apps' 1", () => {
  const pool = new PooledGaps(1000, [0, 1], 1);
  for (let app = 0; app < 50; app++) {
    pool.enter(1, 1, 0);
    pool.complete(1, 1, 0, 1);
    pool.enter(1, 60, 0);
    pool.complete(1, 60, 0, 60);
  }
  const p = pool.prior(100, 1, 60);
  assert.deepEqual([p.size, p.gap[0], p.prob[0]], [1, 60, 1]);
});

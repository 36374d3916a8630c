/**
 * HistogramSlab against IdleDistribution (the straightforward one object per histogram): random gap
 * sequences, interleaved over many histograms so that slots move, are freed and reused; every field
 * must be equal to the bit.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HistogramSlab } from "../../src/plan/histogram-slab.js";
import {
  IDLE_DISTRIBUTION_DEFAULTS,
  type IdleDistributionOptions,
} from "../../src/plan/idle-distribution.js";
import { mulberry32 } from "../random.js";
import { IdleDistribution } from "./idle-distribution-reference.js";

/** Deterministic uniform [0, 1). */
const rng = mulberry32;

function same(slab: HistogramSlab, id: number, d: IdleDistribution, what: string): void {
  const from = slab.start[id]!;
  const gaps = Array.from(slab.gap.subarray(from, from + slab.len[id]!));
  const weights = Array.from(slab.weight.subarray(from, from + slab.len[id]!));
  assert.deepEqual(gaps, [...d.gapList], `${what}: gaps`);
  assert.deepEqual(weights, [...d.weightList], `${what}: weights`);
  assert.equal(slab.totalWeight(id), d.totalWeight(), `${what}: total`);
  assert.equal(slab.scale[id], d.scaleNow(), `${what}: scale`);
  assert.equal(slab.effectiveSamples(id), d.effectiveSamples(), `${what}: samples`);
  assert.ok(Object.is(slab.typicalGap(id), d.typicalGap()), `${what}: typical gap`);
  assert.equal(slab.observations[id], d.observations, `${what}: observations`);
  assert.equal(slab.changes[id], d.changes, `${what}: changes`);
}

function check(options: IdleDistributionOptions, seed: number): number {
  const r = rng(seed);
  const slab = new HistogramSlab(options, 2);
  const plain: IdleDistribution[] = [];
  // Each histogram's own pattern (a few periods, switching now and then) so that changes happen.
  const periods: number[][] = [];
  let changes = 0;
  for (let step = 0; step < 20_000; step++) {
    if (plain.length < 60 && (plain.length === 0 || r() < 0.01)) {
      assert.equal(slab.create(), plain.length);
      plain.push(new IdleDistribution(options));
      periods.push([1 + Math.floor(r() * 30), 1 + Math.floor(r() * 2000)]);
    }
    const id = Math.floor(r() * plain.length);
    const p = periods[id]!;
    if (r() < 0.02) p[0] = 1 + Math.floor(r() * 3000);
    const u = r();
    const gap =
      u < 0.03
        ? options.range + 1 + Math.floor(r() * options.range)
        : u < 0.1
          ? 1 + Math.floor(r() * options.range)
          : p[u < 0.8 ? 0 : 1]!;
    slab.add(id, gap);
    plain[id]!.add(gap);
    if (step % 97 === 0)
      for (let k = 0; k < plain.length; k++) same(slab, k, plain[k]!, `step ${step} id ${k}`);
  }
  for (let k = 0; k < plain.length; k++) {
    same(slab, k, plain[k]!, `end id ${k}`);
    changes += plain[k]!.changes;
  }
  return changes;
}

test("HistogramSlab equals IdleDistribution, to the bit (change detection on)", () => {
  const changes = check({ ...IDLE_DISTRIBUTION_DEFAULTS, range: 3000 }, 1);
  assert.ok(changes > 10, `changes exercised: ${changes}`);
});

test("HistogramSlab equals IdleDistribution, to the bit (decay, rescales, no change detection)", () => {
  check({ ...IDLE_DISTRIBUTION_DEFAULTS, range: 500, decay: 0.6, changeRun: 0 }, 2);
  check({ ...IDLE_DISTRIBUTION_DEFAULTS, range: 10_080, decay: 0.2, forget: 1e-30 }, 3);
});

test("createUpTo makes ids exist; create continues after them", () => {
  const slab = new HistogramSlab(IDLE_DISTRIBUTION_DEFAULTS, 1);
  slab.createUpTo(10);
  assert.equal(slab.size, 10);
  assert.equal(slab.create(), 10);
  slab.add(9, 5);
  assert.ok(Number.isNaN(slab.typicalGap(10)));
  assert.equal(slab.typicalGap(9), 5);
  assert.equal(slab.effectiveSamples(9), 1);
});

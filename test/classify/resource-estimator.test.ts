import assert from "node:assert/strict";
import { test } from "node:test";
import { quantileSorted, ResourceEstimator } from "../../src/classify/resource-estimator.js";
import { gaussian, mulberry32 } from "./seeded.js";

interface SyntheticType {
  name: string;
  /** durationMs = scale · inputBytes^exponent · exp(σ·z) */
  scale: number;
  exponent: number;
  sigma: number;
}

function syntheticTypes(rand: () => number, count: number): SyntheticType[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `node:type${i}`,
    scale: Math.exp(gaussian(rand) * 1.5),
    exponent: 0.3 + rand() * 0.9,
    sigma: 0.2 + rand() * 0.6,
  }));
}

const logUniformBytes = (rand: () => number): number =>
  Math.round(Math.exp(Math.log(1e3) + rand() * Math.log(1e4)));

test("estimator: p90/p95 of duration cover ~90%/95% of held-out actuals on a synthetic history", (t) => {
  const rand = mulberry32(42);
  const types = syntheticTypes(rand, 40);
  const est = new ResourceEstimator();
  let n = 0;
  let under90 = 0;
  let under95 = 0;
  let underMem90 = 0;
  for (let i = 0; i < 8000; i++) {
    const type = types[Math.floor(rand() * types.length)] as SyntheticType;
    const inputBytes = logUniformBytes(rand);
    const durationMs = type.scale * inputBytes ** type.exponent * Math.exp(type.sigma * gaussian(rand));
    // Memory: a floor plus a sub-linear share of the input, noisier.
    const peakMemoryMb = 40 + (inputBytes / 1e5) * Math.exp(0.5 * gaussian(rand));
    const features = { runtime: "node", inputBytes };
    const e = est.estimate(type.name, features);
    // Held out: every task is estimated before it is observed; skip each type's warm-up.
    if (e.samples >= 5) {
      n++;
      if (durationMs <= e.durationMs.p90) under90++;
      if (durationMs <= e.durationMs.p95) under95++;
      if (peakMemoryMb <= e.peakMemoryMb.p90) underMem90++;
    }
    est.observe(type.name, features, {
      durationMs,
      peakMemoryMb,
      cpuSeconds: durationMs / 1000,
      outputBytes: null,
    });
  }
  const c90 = under90 / n;
  const c95 = under95 / n;
  const m90 = underMem90 / n;
  t.diagnostic(
    `held-out ${n}: duration p90 ${c90.toFixed(3)}, p95 ${c95.toFixed(3)}; memory p90 ${m90.toFixed(3)}`,
  );
  assert.ok(c90 >= 0.85 && c90 <= 0.95, `duration p90 coverage ${c90}`);
  assert.ok(c95 >= 0.9 && c95 <= 0.98, `duration p95 coverage ${c95}`);
  assert.ok(m90 >= 0.85 && m90 <= 0.95, `memory p90 coverage ${m90}`);
});

test("estimator: short series are calibrated too (pooled prior for the spread)", (t) => {
  const rand = mulberry32(7);
  const types = syntheticTypes(rand, 400);
  const est = new ResourceEstimator();
  let n = 0;
  let under = 0;
  // Each type gets only 2–9 tasks; all are interleaved.
  const jobs: SyntheticType[] = [];
  for (const type of types) for (let k = 0, m = 2 + Math.floor(rand() * 8); k < m; k++) jobs.push(type);
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j] as SyntheticType, jobs[i] as SyntheticType];
  }
  for (const job of jobs) {
    const inputBytes = logUniformBytes(rand);
    const durationMs = job.scale * inputBytes ** job.exponent * Math.exp(job.sigma * gaussian(rand));
    const e = est.estimate(job.name, { runtime: "node", inputBytes });
    if (e.samples >= 1) {
      n++;
      if (durationMs <= e.durationMs.p90) under++;
    }
    est.observe(job.name, { runtime: "node", inputBytes }, { durationMs });
  }
  const coverage = under / n;
  t.diagnostic(`short series, held-out ${n}: p90 coverage ${coverage.toFixed(3)}`);
  assert.ok(coverage >= 0.82 && coverage <= 0.96, `short-series p90 coverage ${coverage} over ${n}`);
});

test("estimator: a power law in input size is extrapolated", () => {
  const est = new ResourceEstimator();
  const rand = mulberry32(3);
  for (let i = 0; i < 200; i++) {
    const inputBytes = logUniformBytes(rand);
    // Linear in size, small noise.
    est.observe(
      "t",
      { runtime: "node", inputBytes },
      { durationMs: (inputBytes / 100) * Math.exp(0.05 * gaussian(rand)) },
    );
  }
  const at1m = est.estimate("t", { runtime: "node", inputBytes: 1e6 }).durationMs.p50;
  const at10m = est.estimate("t", { runtime: "node", inputBytes: 1e7 }).durationMs.p50;
  assert.ok(Math.abs(at1m / 1e4 - 1) < 0.1, `p50 at 1 MB ${at1m}`);
  assert.ok(Math.abs(at10m / at1m - 10) < 1, `ratio ${at10m / at1m}`);
});

test("estimator: unknown type uses the runtime's pooled prior; nothing known gives defaults", () => {
  const est = new ResourceEstimator({ defaults: { peakMemoryMb: 256 } });
  const blank = est.estimate("x", { runtime: "python3", inputBytes: 10 });
  assert.equal(blank.samples, 0);
  assert.equal(blank.peakMemoryMb.p95, 256);
  for (let i = 0; i < 50; i++) {
    est.observe(`t${i % 10}`, { runtime: "python3", inputBytes: 100 }, { peakMemoryMb: 100 + (i % 7) * 10 });
  }
  const cold = est.estimate("never-seen", { runtime: "python3", inputBytes: 100 });
  assert.equal(cold.samples, 0);
  assert.ok(cold.peakMemoryMb.p50 >= 100 && cold.peakMemoryMb.p50 <= 160, `p50 ${cold.peakMemoryMb.p50}`);
  assert.ok(cold.peakMemoryMb.p95 >= 150, `p95 ${cold.peakMemoryMb.p95}`);
  // Another runtime's history does not leak into the node prior.
  assert.equal(est.estimate("never-seen", { runtime: "node", inputBytes: 100 }).peakMemoryMb.p50, 256);
});

test("estimator: missing metrics are not learned; quantiles are ordered; results are deterministic", () => {
  const run = (): string => {
    const est = new ResourceEstimator();
    const rand = mulberry32(11);
    const out: unknown[] = [];
    for (let i = 0; i < 300; i++) {
      const f = { runtime: "node", inputBytes: logUniformBytes(rand) };
      const e = est.estimate("a", f);
      for (const m of ["cpuSeconds", "peakMemoryMb", "durationMs", "outputBytes"] as const) {
        const q = e[m];
        assert.ok(q.p50 <= q.p90 && q.p90 <= q.p95 && q.p50 >= 0, `${m} ${JSON.stringify(q)}`);
      }
      out.push(e);
      est.observe("a", f, { cpuSeconds: rand(), outputBytes: i % 3 === 0 ? null : 500 + rand() * 100 });
    }
    const last = est.estimate("a", { runtime: "node", inputBytes: 100 });
    assert.equal(last.samples, 300);
    assert.equal(last.durationMs.p50, 100); // never observed: default
    return JSON.stringify(out);
  };
  assert.equal(run(), run());
});

test("quantileSorted interpolates linearly", () => {
  assert.equal(quantileSorted([1, 2, 3, 4, 5], 0.9), 4.6);
  assert.equal(quantileSorted([7], 0.95), 7);
  assert.equal(quantileSorted([], 0.5), 0);
});

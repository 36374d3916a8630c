import assert from "node:assert/strict";
import { test } from "node:test";
import { emptySums, scoreOrigin, summarise } from "../../src/forecast/backtest.js";
import type { Forecast } from "../../src/forecast/forecaster.js";
import { buildForecast, normalPoint, poissonPoint } from "../../src/forecast/models/common.js";
import {
  empiricalCountCdf,
  normalCountCdf,
  PitRecalibration,
  pitBounds,
  pitCoverage,
  poissonCdf,
  zeroInflatedCdf,
} from "../../src/forecast/pit.js";
import { createForecaster } from "../../src/forecast/registry.js";
import { poissonDraw, rng } from "./synthetic.js";

const N = 20_000;
/** Rates from sparse to busy, so both the [0, 0] intervals and ordinary ones are exercised. */
const rateAt = (i: number): number => [0.05, 0.4, 2, 9][i % 4]!;

/** Mean PIT coverage at 80 % of Poisson(rate) forecasts against draws from `draw`. */
function meanPit(draw: (lambda: number) => number): { pit: number; interval: number } {
  let pit = 0;
  let inside = 0;
  for (let i = 0; i < N; i++) {
    const lambda = rateAt(i);
    const y = draw(lambda);
    const p = poissonPoint(lambda, 0.8);
    pit += pitCoverage(p.cdf!, y, 0.8);
    if (y >= p.lower && y <= p.upper) inside++;
  }
  return { pit: pit / N, interval: inside / N };
}

test("PIT coverage of true Poisson forecasts is 80 % within sampling error, though intervals over-cover", () => {
  const r = rng(1);
  const { pit, interval } = meanPit((l) => poissonDraw(l, r()));
  // Per-point shares are in [0, 1], so the standard error is below 0.5 / √N ≈ 0.0035.
  assert.ok(Math.abs(pit - 0.8) < 0.015, `PIT coverage ${pit}`);
  assert.ok(interval > 0.86, `interval coverage ${interval}: integer intervals cannot hit 80 %`);
});

test("an over-dispersed truth under a Poisson forecast shows up as PIT under-coverage", () => {
  const r = rng(2);
  // Same mean, but the rate is 0.2λ or 1.8λ: a gamma-free negative-binomial-like mixture.
  const { pit } = meanPit((l) => poissonDraw(l * (r() < 0.5 ? 0.2 : 1.8), r()));
  assert.ok(pit < 0.72, `PIT coverage ${pit}`);
});

test("PIT bounds follow the CDF families: Poisson, rounded normal, empirical, zero-inflated", () => {
  assert.deepEqual(pitBounds(poissonCdf(0), 0), [0, 1]);
  const [a, b] = pitBounds(poissonCdf(1), 1);
  assert.ok(Math.abs(a - Math.exp(-1)) < 1e-12 && Math.abs(b - 2 * Math.exp(-1)) < 1e-12);
  // N(0.2, 1) rounded: every value below 0.5 lands on 0.
  assert.ok(Math.abs(normalCountCdf(0.2, 1)(0) - 0.6179) < 1e-3);
  assert.equal(normalCountCdf(3, 0)(2), 0);
  assert.equal(normalCountCdf(3, 0)(3), 1);
  const emp = empiricalCountCdf(Float64Array.of(-1, 0, 1, 2), 2, 1); // values 1, 2, 3, 4
  assert.equal(emp(0), 0);
  assert.equal(emp(2), 0.5);
  assert.equal(emp(4), 1);
  assert.equal(zeroInflatedCdf(0.75, emp)(0), 0.75);
  assert.equal(zeroInflatedCdf(0.75, emp)(2), 0.875);
  // A point mass: its own value has the whole PIT interval [0, 1]; a value outside sits at an edge.
  assert.ok(Math.abs(pitCoverage(normalCountCdf(3, 0), 3, 0.8) - 0.8) < 1e-12);
  assert.equal(pitCoverage(normalCountCdf(3, 0), 5, 0.8), 0);
});

test("every model's CDF agrees with its own interval", () => {
  const r = rng(3);
  const y = Array.from({ length: 3 * 1440 }, (_, i) =>
    poissonDraw(4 + 3 * Math.sin((2 * Math.PI * i) / 1440) + (i % 60 < 10 ? 3 : 0), r()),
  );
  const h = { user: "u", taskType: "t", startMinute: 0, arrivals: y };
  for (const name of ["snaive", "rate", "tsb", "croston", "seasonal", "mstl", "ets"]) {
    const f = createForecaster(name).fit(h).predict({ fromMinute: y.length, horizon: 60, level: 0.8 });
    for (const m of f.minutes) {
      assert.ok(m.cdf, `${name} has a distribution`);
      const up = m.cdf(Math.ceil(m.arrivals.upper));
      const below = m.arrivals.lower >= 1 ? m.cdf(Math.floor(m.arrivals.lower) - 1) : 0;
      assert.ok(up >= 0.88, `${name}: F(upper ${m.arrivals.upper}) = ${up}`);
      assert.ok(below <= 0.12, `${name}: F(lower − 1) = ${below} (lower ${m.arrivals.lower})`);
    }
  }
});

test("scoreOrigin reports PIT coverage next to interval coverage", () => {
  const req = { fromMinute: 0, horizon: 2 };
  const f = (level: number): Forecast =>
    buildForecast(
      { user: "u", taskType: "t", startMinute: 0, arrivals: [] },
      "m",
      { ...req, level },
      [normalPoint(5, 1, 1, level), poissonPoint(0.1, level)],
      1,
    );
  const sums = emptySums();
  scoreOrigin(f(0.8), f(0.95), [5, 0], 1, sums);
  const m = summarise(sums);
  assert.equal(m.coverage80, 1);
  // 5 under N(5, sd): PIT [Φ(−0.5/sd), Φ(0.5/sd)] lies inside [0.1, 0.9]; 0 under Poisson(0.1): [0, 0.905].
  const expected = (1 + 0.8 / Math.exp(-0.1)) / 2;
  assert.ok(Math.abs(m.pitCoverage80 - expected) < 1e-3, `${m.pitCoverage80} vs ${expected}`);
});

test("recalibration maps the PIT values of a mis-calibrated forecaster on busy counts back to uniform", () => {
  // Busy rates: G = R∘F is a count distribution again, so where one count holds much of the mass
  // (sparse series) its PIT cannot follow R exactly; on busy counts it does.
  const busy = (i: number): number => [8, 15, 30][i % 3]!;
  const r = rng(4);
  const draw = (l: number) => poissonDraw(l * (r() < 0.5 ? 0.5 : 1.5), r());
  const bounds: Array<[number, number]> = [];
  for (let i = 0; i < 4000; i++) bounds.push(pitBounds(poissonCdf(busy(i)), draw(busy(i))));
  const cal = new PitRecalibration(bounds);
  let before = 0;
  let after = 0;
  for (let i = 0; i < N; i++) {
    const cdf = poissonCdf(busy(i));
    const y = draw(busy(i));
    before += pitCoverage(cdf, y, 0.8);
    after += pitCoverage((c) => cal.map(cdf(c)), y, 0.8);
  }
  assert.ok(before / N < 0.6, `before ${before / N}`);
  assert.ok(Math.abs(after / N - 0.8) < 0.03, `after ${after / N}`);
  assert.ok(Math.abs(cal.map(cal.inverse(0.1)) - 0.1) < 1e-6);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkForecast, type SeriesHistory } from "../../src/forecast/forecaster.js";
import { detectPeriods, PeriodicForecaster, PeriodicModel } from "../../src/forecast/models/periodic.js";
import { createForecaster } from "../../src/forecast/registry.js";
import { poissonDraw, rng } from "./synthetic.js";

const series = (arrivals: ArrayLike<number>): SeriesHistory => ({
  user: "u",
  taskType: "t",
  startMinute: 0,
  arrivals,
});

const hourly = (i: number): number => 5 + 4 * Math.sin((2 * Math.PI * i) / 60);

test("periodicity model: a pure hourly season is found and extended", () => {
  const y = Array.from({ length: 1440 }, (_, i) => Math.round(hourly(i)));
  const periods = detectPeriods(y);
  assert.ok(periods.length >= 1 && Math.abs(periods[0]! - 60) < 1.5, `periods ${periods}`);
  const m = new PeriodicForecaster().fit(series(y));
  assert.ok(m instanceof PeriodicModel);
  const f = m.predict({ fromMinute: 1440, horizon: 120, level: 0.8 });
  assert.equal(checkForecast(f), null);
  let ae = 0;
  f.minutes.forEach((p, k) => {
    ae += Math.abs(p.arrivals.expected - hourly(1440 + k));
  });
  assert.ok(ae / 120 < 0.5, `MAE ${ae / 120} against the true season`);
  assert.ok(f.confidence > 0.5, `confidence ${f.confidence}`);
});

test("periodicity model: a 7-minute timer's period is found and its next arrivals are expected", () => {
  const y = Array.from({ length: 2000 }, (_, i) => (i % 7 === 3 ? 1 : 0));
  // A spike train has equal power at every harmonic 7/j: the period and only its harmonics are found.
  const periods = detectPeriods(y);
  assert.ok(
    periods.some((p) => Math.abs(p - 7) < 0.05),
    `periods ${periods}`,
  );
  for (const p of periods) assert.ok(Math.abs(7 / p - Math.round(7 / p)) < 0.02, `${p} is not 7/j`);
  const f = new PeriodicForecaster().fit(series(y)).predict({ fromMinute: 2000, horizon: 14, level: 0.8 });
  for (const m of f.minutes) {
    const due = m.minute % 7 === 3;
    if (due) assert.ok(m.pAny > 0.8 && m.arrivals.expected > 0.7, `minute ${m.minute}: ${m.pAny}`);
    else assert.ok(m.pAny < 0.2 && m.arrivals.expected < 0.3, `minute ${m.minute}: ${m.pAny}`);
  }
});

test("periodicity model: white noise has no period and falls back to the recent mean", () => {
  const r = rng(7);
  const y = Array.from({ length: 2048 }, () => poissonDraw(3, r()));
  assert.deepEqual(detectPeriods(y), []);
  const m = new PeriodicForecaster().fit(series(y)) as PeriodicModel;
  assert.deepEqual(m.periods, []);
  const f = m.predict({ fromMinute: 2048, horizon: 30, level: 0.8 });
  for (const p of f.minutes) {
    assert.ok(Math.abs(p.arrivals.expected - 3) < 0.5, `expected ${p.arrivals.expected}`);
    assert.ok(
      p.arrivals.lower <= 2 && p.arrivals.upper >= 4,
      `interval ${p.arrivals.lower}..${p.arrivals.upper}`,
    );
  }
});

test("periodicity model is in the registry and refuses what it cannot fit", () => {
  assert.equal(createForecaster("fft").name, "fft");
  assert.throws(() => new PeriodicForecaster().fit(series([1, 2, 3])));
  assert.throws(() => new PeriodicForecaster().fit(series([1, Number.NaN, ...new Array(50).fill(1)])));
});

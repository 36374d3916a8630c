import assert from "node:assert/strict";
import { test } from "node:test";
import {
  backtestSeries,
  emptySums,
  maseScale,
  pinball,
  scoreOrigin,
  summarise,
} from "../../src/forecast/backtest.js";
import { runBacktest } from "../../src/forecast/backtest-run.js";
import type { Forecast, SeriesHistory } from "../../src/forecast/forecaster.js";
import { SeasonalNaiveForecaster } from "../../src/forecast/models/seasonal-naive.js";

const forecastOf = (rows: Array<[number, number, number, number]>): Forecast => ({
  user: "u",
  taskType: "t",
  model: "fixed",
  level: 0.8,
  fromMinute: 0,
  confidence: 1,
  resources: null,
  minutes: rows.map(([expected, lower, upper, pAny], minute) => ({
    minute,
    pAny,
    arrivals: { expected, lower, upper },
    concurrency: { expected, lower, upper },
  })),
});

test("MASE scale: in-sample mean absolute seasonal difference", () => {
  assert.equal(maseScale([1, 2, 3, 5], 1), (1 + 1 + 2) / 3);
  assert.equal(maseScale([1, 2, 1, 4], 2), (0 + 2) / 2);
  assert.equal(maseScale([3, 3, 3], 1), 0);
});

test("pinball loss by hand", () => {
  assert.equal(pinball(10, 8, 0.9), 0.9 * 2);
  assert.ok(Math.abs(pinball(6, 8, 0.9) - 0.2) < 1e-12);
  assert.equal(pinball(8, 8, 0.1), 0);
});

test("one origin: coverage, Brier and precision/recall of 'any arrival within k minutes'", () => {
  // Actuals 0, 2, 0, 0; the 80 % interval covers minutes 0, 1, 3 (minute 2's lower is 1).
  const f = forecastOf([
    [0.5, 0, 1, 0.4],
    [1, 0, 3, 0.9],
    [1, 1, 2, 0.5],
    [0, 0, 0, 0],
  ]);
  const sums = emptySums();
  const r = scoreOrigin(f, f, [0, 2, 0, 0], 2, sums);
  assert.equal(r.mae, (0.5 + 1 + 1 + 0) / 4);
  assert.equal(sums.points, 4);
  assert.equal(sums.covered80, 3);
  // Windows of 2: [0,1] p = 1 − 0.6·0.1 = 0.94 (happened), [1,2] p = 1 − 0.1·0.5 = 0.95 (happened),
  // [2,3] p = 1 − 0.5·1 = 0.5 (did not happen): tp 2, fp 1, fn 0.
  assert.equal(sums.events, 3);
  assert.ok(Math.abs(sums.brierSum - (0.06 ** 2 + 0.05 ** 2 + 0.5 ** 2)) < 1e-12);
  const m = summarise(sums);
  assert.equal(m.precision, 2 / 3);
  assert.equal(m.recall, 1);
});

test("rolling origins refit on the past only: seasonal naive on a pure season has MASE 0 and full coverage", () => {
  const a = Array.from({ length: 300 }, (_, i) => (i % 60 < 30 ? 4 : 1));
  const h: SeriesHistory = { user: "u", taskType: "t", startMinute: 1000, arrivals: Float64Array.from(a) };
  const o = { firstOrigin: 1180, horizon: 30, origins: 5, step: 30, eventMinutes: 5, seasonPeriod: 1 };
  const r = backtestSeries(new SeasonalNaiveForecaster({ period: 60 }), { history: h }, o);
  // Origins 1180, 1210, 1240, 1270 fit; 1300 would run past the data.
  assert.deepEqual(r.chosen, ["snaive", "snaive", "snaive", "snaive"]);
  const m = summarise(r.sums);
  assert.equal(m.mase, 0);
  assert.equal(m.coverage80, 1);
  assert.equal(r.sums.points, 4 * 30);
});

test("runBacktest: a failing model is counted, not thrown; auto reports what it chose", () => {
  const a = Array.from({ length: 400 }, (_, i) => (i % 10 === 0 ? 1 : 0));
  const inputs = [{ history: { user: "u", taskType: "t", startMinute: 0, arrivals: Float64Array.from(a) } }];
  const o = { firstOrigin: 300, horizon: 20, origins: 2, step: 20, eventMinutes: 5, seasonPeriod: 0 };
  const run = runBacktest(["mstl", "auto"], inputs, o);
  const mstl = run.models.find((m) => m.model === "mstl")!;
  assert.equal(mstl.all.series, 1);
  const auto = run.models.find((m) => m.model === "auto")!;
  assert.equal(auto.all.failed, 0);
  assert.equal(
    Object.values(auto.chosen).reduce((x, y) => x + y, 0),
    2,
  );
  assert.ok(auto.all.recall > 0.5, `recall ${auto.all.recall}`);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkForecast, type SeriesHistory } from "../../src/forecast/forecaster.js";
import { EtsForecaster, MstlForecaster } from "../../src/forecast/models/mstl.js";
import { ProphetForecaster, prepareProphet } from "../../src/forecast/models/prophet.js";

const series = (arrivals: number[], startMinute = 0): SeriesHistory => ({
  user: "u",
  taskType: "t",
  startMinute,
  arrivals,
});

/** A daily cycle (peak 35 at noon, trough 5 at midnight) with small deterministic noise. */
const daily = (days: number): number[] =>
  Array.from(
    { length: days * 1440 },
    (_, i) => 20 + 15 * Math.sin((2 * Math.PI * (i - 360)) / 1440) + ((i * 7919) % 5) - 2,
  );

test("MSTL recovers a daily period: 12 hours ahead it forecasts the peak, not the trough", () => {
  const h = series(daily(3));
  const f = new MstlForecaster({ periods: [1440], maxHorizon: 1440 }).fit(h).predict({
    fromMinute: 3 * 1440,
    horizon: 1440,
    level: 0.8,
  });
  assert.equal(checkForecast(f), null);
  const at = (minuteOfDay: number) => f.minutes[minuteOfDay]!.arrivals.expected;
  assert.ok(Math.abs(at(720) - 35) < 4, `noon ${at(720)}`);
  assert.ok(Math.abs(at(0) - 5) < 4, `midnight ${at(0)}`);
  assert.ok(at(720) - at(1440 - 1) > 10);
  const f95 = new MstlForecaster({ periods: [1440] })
    .fit(h)
    .predict({ fromMinute: 4320, horizon: 5, level: 0.95 });
  const w = (x: { lower: number; upper: number }) => x.upper - x.lower;
  assert.ok(w(f95.minutes[0]!.arrivals) > w(f.minutes[0]!.arrivals), "95 % is wider than 80 %");
});

test("MSTL and ETS refuse constant and too-short series with an Error (so auto falls back)", () => {
  assert.throws(() => new MstlForecaster().fit(series(new Array(500).fill(2))), /constant|shorter/);
  assert.throws(() => new MstlForecaster().fit(series([1, 2, 3])), /shorter/);
  assert.throws(() => new EtsForecaster().fit(series(new Array(100).fill(0))), /constant/);
});

test("ETS follows a step change in level", () => {
  const a = Array.from({ length: 600 }, (_, i) => (i < 400 ? 3 : 12) + ((i * 31) % 3) - 1);
  const f = new EtsForecaster().fit(series(a)).predict({ fromMinute: 600, horizon: 10, level: 0.8 });
  assert.ok(Math.abs(f.minutes[0]!.arrivals.expected - 12) < 2, `level ${f.minutes[0]!.arrivals.expected}`);
});

test("Prophet fits a daily cycle and puts noon above midnight", async () => {
  await prepareProphet();
  const h = series(daily(2));
  const f = new ProphetForecaster({ uncertaintySamples: 50, maxHorizon: 1440 }).fit(h).predict({
    fromMinute: 2 * 1440,
    horizon: 1440,
    level: 0.8,
  });
  assert.equal(checkForecast(f), null);
  assert.ok(f.minutes[720]!.arrivals.expected > f.minutes[0]!.arrivals.expected + 10);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkForecast, type SeriesHistory } from "../../src/forecast/forecaster.js";
import { LstmForecaster, prepareLstm } from "../../src/forecast/models/lstm.js";

const history = (user: string, arrivals: number[]): SeriesHistory => ({
  user,
  taskType: "t",
  startMinute: 0,
  arrivals,
});

test("LSTM (tiny, wasm backend): one global model over several series, per-series scale, valid forecasts", async () => {
  await prepareLstm();
  // A dense series and a sparse one with the same 10-minute rhythm at different scales.
  const dense = Array.from({ length: 400 }, (_, i) => (i % 10 < 5 ? 40 : 10));
  const sparse = Array.from({ length: 400 }, (_, i) => (i % 10 === 0 ? 1 : 0));
  const lstm = new LstmForecaster({
    window: 10,
    outputMinutes: 10,
    units: 4,
    epochs: 3,
    windowsPerSeries: 20,
  });
  const fitted = lstm.fitMany([history("dense", dense), history("sparse", sparse), history("empty", [0, 0])]);
  assert.equal(fitted.size, 2, "the series without arrivals gets no model");
  const d = fitted.get("dense\u0000t")!.predict({ fromMinute: 400, horizon: 15, level: 0.8 });
  const s = fitted.get("sparse\u0000t")!.predict({ fromMinute: 400, horizon: 15, level: 0.8 });
  assert.equal(checkForecast(d), null);
  assert.equal(checkForecast(s), null);
  assert.equal(d.minutes.length, 15);
  const meanOf = (f: typeof d) => f.minutes.reduce((a, m) => a + m.arrivals.expected, 0) / f.minutes.length;
  assert.ok(meanOf(d) > 5 * meanOf(s), `per-series scale: dense ${meanOf(d)} vs sparse ${meanOf(s)}`);
  const d95 = fitted.get("dense\u0000t")!.predict({ fromMinute: 400, horizon: 15, level: 0.95 });
  assert.ok(d95.minutes[0]!.arrivals.upper >= d.minutes[0]!.arrivals.upper);
});

test("LSTM: the single-series fit works and a history without arrivals throws an Error", async () => {
  await prepareLstm();
  const lstm = new LstmForecaster({ window: 8, outputMinutes: 5, units: 2, epochs: 1 });
  const f = lstm
    .fit(
      history(
        "a",
        Array.from({ length: 60 }, (_, i) => i % 3),
      ),
    )
    .predict({
      fromMinute: 60,
      horizon: 5,
      level: 0.8,
    });
  assert.equal(checkForecast(f), null);
  assert.throws(() => lstm.fit(history("b", new Array(60).fill(0))), Error);
});

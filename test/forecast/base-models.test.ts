import assert from "node:assert/strict";
import { test } from "node:test";
import type { SeriesHistory } from "../../src/forecast/forecaster.js";
import { checkForecast } from "../../src/forecast/forecaster.js";
import { InterArrivalForecaster } from "../../src/forecast/models/interarrival.js";
import { SeasonalProfileForecaster } from "../../src/forecast/models/seasonal-profile.js";
import { createForecaster } from "../../src/forecast/registry.js";

const series = (arrivals: number[], startMinute = 1000): SeriesHistory => ({
  user: "u",
  taskType: "t",
  startMinute,
  arrivals,
});

/** A timer: one arrival every `period` minutes. */
const timer = (period: number, count: number): number[] => {
  const a = new Array(period * (count - 1) + 1).fill(0);
  for (let i = 0; i < count; i++) a[i * period] = 1;
  return a;
};

test("inter-arrival histogram: a 5-minute timer is expected exactly 5 minutes after the last arrival", () => {
  const h = series(timer(5, 20));
  const last = h.startMinute + h.arrivals.length - 1;
  const f = new InterArrivalForecaster().fit(h).predict({ fromMinute: last + 1, horizon: 12, level: 0.8 });
  assert.equal(checkForecast(f), null);
  const p = f.minutes.map((m) => m.pAny);
  assert.equal(p[4], 1, "arrival at last + 5");
  assert.equal(p[9], 1, "renewal at last + 10");
  assert.equal(p[0], 0);
  assert.equal(p[6], 0);
  assert.ok(f.confidence > 0.7, `confidence ${f.confidence}`);
});

test("inter-arrival histogram conditions on the idle time already elapsed", () => {
  // Gaps of 2 or 8 minutes, half each: after 3 idle minutes only the 8-minute gap remains possible.
  const a: number[] = [1];
  for (let i = 0; i < 20; i++) a.push(...(i % 2 ? [0, 1] : [0, 0, 0, 0, 0, 0, 0, 1]));
  const h = series(a);
  const last = h.startMinute + a.length - 1;
  const m = new InterArrivalForecaster().fit(h);
  const atOnce = m.predict({ fromMinute: last + 1, horizon: 10, level: 0.8 });
  assert.ok(Math.abs(atOnce.minutes[1]!.pAny - 0.5) < 0.05, "gap 2 has half the mass");
  const later = m.predict({ fromMinute: last + 4, horizon: 6, level: 0.8 });
  assert.ok(Math.abs(later.minutes[4]!.pAny - 1) < 1e-9, "minute last+8 is now certain");
});

test("inter-arrival histogram: irregular series are less confident than clockwork ones", () => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const a = Array.from({ length: 2000 }, () => (rnd() < 0.03 ? 1 : 0));
  a[0] = 1;
  const irregular = new InterArrivalForecaster()
    .fit(series(a))
    .predict({ fromMinute: 5000, horizon: 1, level: 0.8 });
  const clock = new InterArrivalForecaster()
    .fit(series(timer(30, 60)))
    .predict({ fromMinute: 5000, horizon: 1, level: 0.8 });
  assert.ok(irregular.confidence < clock.confidence);
});

test("seasonal profile: a daily burst at the same minute is expected there tomorrow", () => {
  const days = 3;
  const a = new Array(1440 * days).fill(0);
  for (let d = 0; d < days; d++) for (let m = 600; m < 610; m++) a[d * 1440 + m] = 4;
  const h = series(a, 0);
  const f = new SeasonalProfileForecaster()
    .fit(h)
    .predict({ fromMinute: 1440 * days, horizon: 1440, level: 0.8 });
  assert.equal(checkForecast(f), null);
  assert.ok(f.minutes[605]!.arrivals.expected > 2, "burst minute");
  assert.ok(f.minutes[605]!.pAny > 0.9);
  assert.equal(f.minutes[100]!.arrivals.expected, 0, "quiet minute");
  assert.ok(f.minutes[605]!.arrivals.upper >= f.minutes[605]!.arrivals.expected);
  assert.ok(f.confidence > 0.5);
});

test("seasonal profile refuses a history shorter than a day; auto falls back to the histogram", () => {
  assert.throws(() => new SeasonalProfileForecaster().fit(series(timer(5, 10))), /shorter/);
  const m = createForecaster("auto").fit(series(timer(5, 10)));
  assert.equal(m.model, "interarrival");
  assert.throws(() => createForecaster("nope"), /unknown forecaster/);
});

test("models reject NaN and negative history instead of forecasting garbage", () => {
  assert.throws(() => new InterArrivalForecaster().fit(series([1, Number.NaN, 1])), /arrivals\[1\]/);
  assert.throws(() => new InterArrivalForecaster().fit(series([0, 0, 0])), /no arrivals/);
});

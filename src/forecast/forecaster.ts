import type { CountCdf } from "./pit.js";

/**
 * The forecasting seam. A model is fitted on one (user, task type) series' per-minute history and then
 * asked, cheaply and as often as the planner likes, for the next minutes. Everything is in whole
 * minutes (epoch minutes live, the trace's own minutes in replay); nothing here reads a clock.
 */

/** Per-task resource use observed in a series (most recent last). */
export interface ResourceObservations {
  cpuSeconds: number[];
  peakMemoryMb: number[];
  storageBytes: number[];
  networkBytes: number[];
  durationMs: number[];
}

export interface SeriesHistory {
  user: string;
  taskType: string;
  /** Minute of arrivals[0]. */
  startMinute: number;
  /** Arrivals per minute, dense, from startMinute through the last observed minute (inclusive). */
  arrivals: ArrayLike<number>;
  /** Peak concurrency per minute, aligned with arrivals (optional; arrivals stand in when absent). */
  concurrency?: ArrayLike<number>;
  resources?: ResourceObservations;
}

/** A point estimate with a prediction interval at the forecast's level. */
export interface Interval {
  expected: number;
  lower: number;
  upper: number;
}

export interface MinuteForecast {
  minute: number;
  /** Arrivals expected in this minute, with interval. */
  arrivals: Interval;
  /**
   * Predictive CDF of this minute's arrivals, P(arrivals ≤ count), when the model has a distribution
   * (not only an interval). Used to score calibration on counts (PIT); a function, so it stays out of JSON.
   */
  cdf?: CountCdf;
  /** Peak concurrency expected in this minute, with interval. */
  concurrency: Interval;
  /** Probability of at least one arrival in this minute. */
  pAny: number;
}

/** Predicted use of one task of the series. */
export interface ResourceForecast {
  cpuSeconds: Interval;
  peakMemoryMb: Interval;
  storageBytes: Interval;
  networkBytes: Interval;
  durationMs: Interval;
}

export interface Forecast {
  user: string;
  taskType: string;
  model: string;
  /** The interval level of every Interval here, e.g. 0.8. */
  level: number;
  /** First forecast minute (the minute after `now`'s minute is not assumed: it is `fromMinute`). */
  fromMinute: number;
  minutes: MinuteForecast[];
  /** How much the model trusts this forecast, 0…1 (sample size, sharpness, backtest skill). */
  confidence: number;
  resources: ResourceForecast | null;
}

export interface PredictRequest {
  /** First minute to forecast. */
  fromMinute: number;
  /** Number of minutes. */
  horizon: number;
  /** Interval level, e.g. 0.8 or 0.95. */
  level: number;
  /**
   * Minute of the latest observation the caller knows about (≥ the fitted history's end). Models that
   * condition on the time since the last arrival (inter-arrival histogram) use it; it may be later
   * than the fitted history when retraining is periodic.
   */
  lastArrivalMinute?: number;
}

export interface FittedModel {
  readonly model: string;
  predict(req: PredictRequest): Forecast;
}

export interface Forecaster {
  /** Stable name, as used in configuration and reports. */
  readonly name: string;
  /** Fits one series. May throw on degenerate input; callers treat a throw as "no forecast". */
  fit(history: SeriesHistory): FittedModel;
}

/** Turns a forecast that is NaN, infinite or negative anywhere into an error the planner can log. */
export function checkForecast(f: Forecast): string | null {
  const bad = (x: number) => !Number.isFinite(x) || x < 0;
  if (!Number.isFinite(f.confidence) || f.confidence < 0 || f.confidence > 1)
    return `confidence ${f.confidence}`;
  for (const m of f.minutes) {
    if (bad(m.pAny) || m.pAny > 1) return `pAny ${m.pAny} at minute ${m.minute}`;
    for (const i of [m.arrivals, m.concurrency]) {
      if (bad(i.expected) || bad(i.lower) || bad(i.upper))
        return `interval ${JSON.stringify(i)} at minute ${m.minute}`;
    }
  }
  return null;
}

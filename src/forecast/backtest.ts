import type { FittedModel, Forecast, Forecaster, SeriesHistory } from "./forecaster.js";
import { seasonPeriodFor } from "./models/common.js";
import { pitCoverage, poissonCdf } from "./pit.js";
import { truncateHistory } from "./series.js";
import { classifySeries, type SeriesShape } from "./shape.js";

/** A forecaster that can also train once across many series (the global LSTM). */
export interface ManySeriesForecaster extends Forecaster {
  fitMany(histories: SeriesHistory[]): Map<string, FittedModel>;
}

export function canFitMany(f: Forecaster): f is ManySeriesForecaster {
  return typeof (f as Partial<ManySeriesForecaster>).fitMany === "function";
}

const keyOf = (h: SeriesHistory): string => `${h.user}\u0000${h.taskType}`;

export interface BacktestOptions {
  /** First forecast origin (minute): every fit sees only minutes before its origin. */
  firstOrigin: number;
  /** Minutes forecast from each origin. */
  horizon: number;
  /** Number of origins, `step` apart; origins whose horizon runs past the data are dropped. */
  origins: number;
  step: number;
  /** Window of the "at least one arrival within the next k minutes" event. */
  eventMinutes: number;
  /** Seasonal period of the MASE scale; 0 = the longest calendar period the training data covers twice. */
  seasonPeriod: number;
}

export const BACKTEST_DEFAULTS: Omit<BacktestOptions, "firstOrigin"> = {
  horizon: 60,
  origins: 2,
  step: 60,
  eventMinutes: 5,
  seasonPeriod: 0,
};

/** Sums that pool across origins and series; `summarise` turns them into metrics. */
export interface MetricSums {
  series: number;
  failed: number;
  /** Σ per-series MASE over series with a non-zero scale, and how many. */
  maseSum: number;
  maseSeries: number;
  /** Σ scaled pinball loss (per series mean over points and the four interval quantiles). */
  pinballSum: number;
  points: number;
  covered80: number;
  covered95: number;
  /** Σ PIT coverage (share of each actual's PIT interval inside the central 80 % / 95 %). */
  pit80: number;
  pit95: number;
  events: number;
  brierSum: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface SeriesBacktest {
  key: string;
  shape: SeriesShape;
  model: string;
  /** What each origin's fit chose (auto) or the model name; "failed" when every fit threw. */
  chosen: string[];
  sums: MetricSums;
  /** Forecast at 80 % from the first origin, for reports. */
  firstForecast: Forecast | null;
  actual: number[];
  fitMs: number;
  predictMs: number;
}

export function emptySums(): MetricSums {
  return {
    series: 0,
    failed: 0,
    maseSum: 0,
    maseSeries: 0,
    pinballSum: 0,
    points: 0,
    covered80: 0,
    covered95: 0,
    pit80: 0,
    pit95: 0,
    events: 0,
    brierSum: 0,
    tp: 0,
    fp: 0,
    fn: 0,
  };
}

export function addSums(into: MetricSums, s: MetricSums): void {
  for (const k of Object.keys(into) as Array<keyof MetricSums>) into[k] += s[k];
}

export interface Metrics {
  series: number;
  failed: number;
  mase: number;
  pinball: number;
  coverage80: number;
  coverage95: number;
  /** Calibration on counts: mean PIT coverage at 80 % / 95 % (≈ the level for a calibrated model). */
  pitCoverage80: number;
  pitCoverage95: number;
  brier: number;
  precision: number;
  recall: number;
}

export function summarise(s: MetricSums): Metrics {
  const div = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
  return {
    series: s.series,
    failed: s.failed,
    mase: div(s.maseSum, s.maseSeries),
    pinball: div(s.pinballSum, s.maseSeries),
    coverage80: div(s.covered80, s.points),
    coverage95: div(s.covered95, s.points),
    pitCoverage80: div(s.pit80, s.points),
    pitCoverage95: div(s.pit95, s.points),
    brier: div(s.brierSum, s.events),
    precision: div(s.tp, s.tp + s.fp),
    recall: div(s.tp, s.tp + s.fn),
  };
}

/** In-sample mean absolute error of the seasonal naive forecast: the MASE denominator (0 if flat). */
export function maseScale(y: ArrayLike<number>, period: number): number {
  let s = 0;
  let n = 0;
  for (let i = period; i < y.length; i++) {
    s += Math.abs(y[i]! - y[i - period]!);
    n++;
  }
  return n > 0 ? s / n : 0;
}

export const pinball = (y: number, q: number, tau: number): number =>
  y >= q ? tau * (y - q) : (1 - tau) * (q - y);

/** Scores one origin's forecasts (at 80 % and 95 %) against the actuals; adds into `sums`. */
export function scoreOrigin(
  f80: Forecast,
  f95: Forecast,
  actual: ArrayLike<number>,
  eventMinutes: number,
  sums: MetricSums,
): { mae: number; pinball: number } {
  let ae = 0;
  let pb = 0;
  const H = actual.length;
  for (let k = 0; k < H; k++) {
    const y = actual[k]!;
    const a = f80.minutes[k]!.arrivals;
    const b = f95.minutes[k]!.arrivals;
    ae += Math.abs(y - a.expected);
    pb += (pinball(y, a.lower, 0.1) + pinball(y, a.upper, 0.9) + pinball(y, b.lower, 0.025)) / 4;
    pb += pinball(y, b.upper, 0.975) / 4;
    if (y >= a.lower && y <= a.upper) sums.covered80++;
    if (y >= b.lower && y <= b.upper) sums.covered95++;
    // A model without a distribution is judged as Poisson around its expectation.
    const cdf = f80.minutes[k]!.cdf ?? poissonCdf(a.expected);
    sums.pit80 += pitCoverage(cdf, y, 0.8);
    sums.pit95 += pitCoverage(cdf, y, 0.95);
    sums.points++;
  }
  // P(≥ 1 arrival in minutes j..j+k−1), minutes taken as independent.
  for (let j = 0; j + eventMinutes <= H; j++) {
    let none = 1;
    let happened = false;
    for (let i = j; i < j + eventMinutes; i++) {
      none *= 1 - f80.minutes[i]!.pAny;
      if (actual[i]! > 0) happened = true;
    }
    const p = 1 - none;
    sums.brierSum += (p - (happened ? 1 : 0)) ** 2;
    sums.events++;
    if (p >= 0.5 && happened) sums.tp++;
    else if (p >= 0.5) sums.fp++;
    else if (happened) sums.fn++;
  }
  return { mae: ae / Math.max(1, H), pinball: pb / Math.max(1, H) };
}

export interface BacktestInput {
  /** Full history, covering the training span and the test span. */
  history: SeriesHistory;
  /** Shape from the training span (computed when absent). */
  shape?: SeriesShape;
}

/** The origins that fit inside a history. */
export function originsFor(h: SeriesHistory, o: BacktestOptions): number[] {
  const end = h.startMinute + h.arrivals.length;
  const out: number[] = [];
  for (let j = 0; j < o.origins; j++) {
    const origin = o.firstOrigin + j * o.step;
    if (origin + o.horizon <= end && origin > h.startMinute) out.push(origin);
  }
  return out;
}

/**
 * Rolling-origin backtest of one forecaster on one series: refit at each origin on the minutes before
 * it, forecast `horizon` minutes at 80 % and 95 %, score. A fit that throws counts as a failure of that
 * model on that series (its metrics then come from the origins that worked).
 * `prefit` supplies models fitted across series (fitMany) per origin.
 */
export function backtestSeries(
  forecaster: Forecaster,
  input: BacktestInput,
  o: BacktestOptions,
  prefit?: (origin: number) => FittedModel | undefined,
  chosenName?: () => string | undefined,
): SeriesBacktest {
  const h = input.history;
  const train0 = truncateHistory(h, o.firstOrigin);
  const shape = input.shape ?? classifySeries(train0);
  const period = o.seasonPeriod > 0 ? o.seasonPeriod : seasonPeriodFor(train0.arrivals.length);
  const scale = maseScale(train0.arrivals, period);
  const sums = emptySums();
  const result: SeriesBacktest = {
    key: keyOf(h),
    shape,
    model: forecaster.name,
    chosen: [],
    sums,
    firstForecast: null,
    actual: [],
    fitMs: 0,
    predictMs: 0,
  };
  let maeSum = 0;
  let pbSum = 0;
  let scored = 0;
  for (const origin of originsFor(h, o)) {
    const t0 = performance.now();
    let model: FittedModel | undefined;
    try {
      model = prefit ? prefit(origin) : forecaster.fit(truncateHistory(h, origin));
    } catch {
      model = undefined;
    }
    const t1 = performance.now();
    result.fitMs += t1 - t0;
    if (!model) {
      result.chosen.push("failed");
      continue;
    }
    result.chosen.push(chosenName?.() ?? model.model);
    const req = { fromMinute: origin, horizon: o.horizon };
    let f80: Forecast;
    let f95: Forecast;
    try {
      f80 = model.predict({ ...req, level: 0.8 });
      f95 = model.predict({ ...req, level: 0.95 });
    } catch {
      result.chosen[result.chosen.length - 1] = "failed";
      continue;
    }
    result.predictMs += performance.now() - t1;
    const i0 = origin - h.startMinute;
    const actual = Array.from({ length: o.horizon }, (_, k) => h.arrivals[i0 + k]!);
    if (!result.firstForecast) {
      result.firstForecast = f80;
      result.actual = actual;
    }
    const r = scoreOrigin(f80, f95, actual, o.eventMinutes, sums);
    maeSum += r.mae;
    pbSum += r.pinball;
    scored++;
  }
  sums.series = 1;
  if (scored === 0) sums.failed = 1;
  else if (scale > 0) {
    sums.maseSum = maeSum / scored / scale;
    sums.pinballSum = pbSum / scored / scale;
    sums.maseSeries = 1;
  }
  return result;
}

/** Fits a many-series forecaster once per origin over all inputs; returns a per-series lookup. */
export function prefitMany(
  forecaster: ManySeriesForecaster,
  inputs: BacktestInput[],
  o: BacktestOptions,
): (key: string, origin: number) => FittedModel | undefined {
  const byOrigin = new Map<number, Map<string, FittedModel>>();
  const origins = new Set<number>();
  for (const i of inputs) for (const origin of originsFor(i.history, o)) origins.add(origin);
  for (const origin of origins) {
    const train = inputs
      .filter((i) => originsFor(i.history, o).includes(origin))
      .map((i) => truncateHistory(i.history, origin));
    try {
      byOrigin.set(origin, forecaster.fitMany(train));
    } catch {
      byOrigin.set(origin, new Map());
    }
  }
  return (key, origin) => byOrigin.get(origin)?.get(key);
}

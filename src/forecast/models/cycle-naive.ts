import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { type CountCdf, empiricalCountCdf } from "../pit.js";
import { normalQuantile, quantileSorted } from "../stats.js";
import {
  buildForecast,
  concurrencyRatio,
  jitteredQuantile,
  type MinutePoint,
  sampleConfidence,
  validArrivals,
} from "./common.js";

export interface CycleNaiveOptions {
  /**
   * The period is detected, and residuals are taken, over the last this many minutes only: a timer's
   * minute pattern shifts phase every few hours (clock drift), so older cycles would blur it.
   */
  windowMinutes: number;
  minPeriod: number;
  /** Longest period searched (also at most a quarter of the window, so ≥ 4 cycles back the estimate). */
  maxPeriod: number;
  /** The forecast aggregates the values at the same phase in this many latest cycles. */
  cycles: number;
  /** "median" minimises absolute error (MASE); "mean" gives the expected count. */
  aggregate: "median" | "mean";
  /** Family-wise false-alarm rate of the autocorrelation test over all lags searched. */
  alpha: number;
  /** The shortest peak within this share of the strongest is taken (a period's multiples peak too). */
  harmonicShare: number;
  /** Without a significant period: forecast the recent window's distribution (true) or throw (false). */
  fallback: boolean;
}

export const CYCLE_DEFAULTS: CycleNaiveOptions = {
  windowMinutes: 720,
  minPeriod: 2,
  maxPeriod: 120,
  cycles: 3,
  aggregate: "median",
  alpha: 0.01,
  harmonicShare: 0.9,
  fallback: true,
};

export interface DetectedCycle {
  period: number;
  /** Autocorrelation at the period, and at lag 1 for comparison. */
  acf: number;
  acf1: number;
}

/** Autocorrelation of y at lags 1…maxLag, each lag's covariance averaged over its own n − k pairs. */
export function autocorrelation(y: ArrayLike<number>, maxLag: number): Float64Array {
  const n = y.length;
  const r = new Float64Array(maxLag + 1);
  let m = 0;
  for (let i = 0; i < n; i++) m += y[i]!;
  m /= Math.max(1, n);
  const d = new Float64Array(n);
  let v = 0;
  for (let i = 0; i < n; i++) {
    d[i] = y[i]! - m;
    v += d[i]! * d[i]!;
  }
  v /= Math.max(1, n);
  r[0] = 1;
  if (!(v > 0)) return r.fill(0, 1);
  for (let k = 1; k <= maxLag && k < n; k++) {
    let s = 0;
    for (let i = k; i < n; i++) s += d[i]! * d[i - k]!;
    r[k] = s / (n - k) / v;
  }
  return r;
}

/**
 * The dominant short period of a (recent) series, or null. A lag counts when its autocorrelation is a
 * local peak, exceeds the white-noise bound z/√(n − k) (z Bonferroni-corrected over the lags searched),
 * and exceeds the lag-1 value: only then does "same phase one cycle ago" predict better than "the
 * minute before", which rules out trends and slow drifts whose autocorrelation is high at every lag.
 */
export function detectCycle(
  y: ArrayLike<number>,
  o: CycleNaiveOptions = CYCLE_DEFAULTS,
): DetectedCycle | null {
  const n = y.length;
  const maxLag = Math.min(o.maxPeriod, Math.floor(n / 4));
  if (maxLag < o.minPeriod) return null;
  const r = autocorrelation(y, maxLag + 1);
  const lags = maxLag - o.minPeriod + 1;
  const z = normalQuantile(1 - o.alpha / (2 * lags));
  const peaks: number[] = [];
  for (let k = o.minPeriod; k <= maxLag; k++) {
    const rk = r[k]!;
    const isPeak = rk >= r[k - 1]! && (k + 1 >= r.length || rk >= r[k + 1]!);
    if (isPeak && rk > r[1]! && rk > z / Math.sqrt(n - k)) peaks.push(k);
  }
  if (peaks.length === 0) return null;
  let best = 0;
  for (const k of peaks) best = Math.max(best, r[k]!);
  const period = peaks.find((k) => r[k]! >= o.harmonicShare * best)!;
  return { period, acf: r[period]!, acf1: r[1]! };
}

/**
 * Seasonal naive with a learned short period, anchored at the latest data: ŷ(t) aggregates the values at
 * t's phase in the last `cycles` cycles of the history. For timers whose per-minute counts repeat every
 * few minutes (an 80-second timer: 3 arrivals per 4 minutes) and whose phase drifts: a few cycles after
 * a shift the forecast has forgotten it. The predictive distribution is the forecast plus the in-sample
 * errors of the same forecast made `s` cycles ahead (s as for the minute forecast), so intervals widen
 * with the lead as far as the history says they should. Without a significant period: the empirical
 * distribution of the recent window (its mean as the forecast).
 */
export class CycleNaiveForecaster implements Forecaster {
  readonly name = "cycle";
  private readonly o: CycleNaiveOptions;
  constructor(options: Partial<CycleNaiveOptions> = {}) {
    this.o = { ...CYCLE_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const y = validArrivals(h, 1);
    const recent = y.subarray(Math.max(0, y.length - this.o.windowMinutes));
    const cycle = detectCycle(recent, this.o);
    if (!cycle && !this.o.fallback) throw new Error("no significant period");
    return cycle
      ? new CycleModel(h, y, recent.length, cycle, this.o, concurrencyRatio(h))
      : new RecentMarginalModel(h, recent, concurrencyRatio(h));
  }
}

function aggregate(values: number[], how: CycleNaiveOptions["aggregate"]): number {
  if (how === "mean") return values.reduce((a, b) => a + b, 0) / values.length;
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/** A point read from a forecast value and an ascending sample of errors around it. */
function pointFrom(v: number, sortedErrors: Float64Array, level: number): MinutePoint {
  const t = (1 - level) / 2;
  const cdf: CountCdf = empiricalCountCdf(sortedErrors, v);
  const has = sortedErrors.length > 0;
  const lo = has ? jitteredQuantile(cdf, t, v + quantileSorted(sortedErrors, t)) : v;
  const up = has ? jitteredQuantile(cdf, 1 - t, v + quantileSorted(sortedErrors, 1 - t)) : v;
  return { expected: v, lower: Math.min(v, lo), upper: Math.max(v, up), pAny: 1 - cdf(0), cdf };
}

class CycleModel implements FittedModel {
  readonly model = "cycle";
  /** Sorted in-sample errors by lead in cycles (computed on demand: predict is called per level). */
  private readonly errors = new Map<number, Float64Array>();
  constructor(
    private readonly h: SeriesHistory,
    private readonly y: Float64Array,
    private readonly window: number,
    readonly cycle: DetectedCycle,
    private readonly o: CycleNaiveOptions,
    private readonly concRatio: number,
  ) {}

  /** The forecast of index i from the cycles starting `s` cycles back (null: none in the history). */
  private forecastAt(i: number, s: number): number | null {
    const p = this.cycle.period;
    const vals: number[] = [];
    for (let m = s; m < s + this.o.cycles; m++) {
      const j = i - m * p;
      if (j >= 0 && j < this.y.length) vals.push(this.y[j]!);
    }
    return vals.length ? aggregate(vals, this.o.aggregate) : null;
  }

  /** In-sample errors y(t) − ŷ(t) at lead `s` over the window; leads without enough fall back to shorter. */
  private errorsAt(s: number): Float64Array {
    const cached = this.errors.get(s);
    if (cached) return cached;
    const n = this.y.length;
    const out: number[] = [];
    const needBack = (s + this.o.cycles - 1) * this.cycle.period;
    for (let t = Math.max(n - this.window, needBack); t < n; t++) {
      const f = this.forecastAt(t, s);
      if (f !== null) out.push(this.y[t]! - f);
    }
    const e = out.length >= 20 || s === 1 ? Float64Array.from(out).sort() : this.errorsAt(Math.max(1, s - 1));
    this.errors.set(s, e);
    return e;
  }

  predict(req: PredictRequest): Forecast {
    const n = this.y.length;
    const p = this.cycle.period;
    const points: MinutePoint[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const i = req.fromMinute + k - this.h.startMinute;
      const s = Math.max(1, Math.ceil((i - n + 1) / p));
      points.push(pointFrom(this.forecastAt(i, s) ?? 0, this.errorsAt(s), req.level));
    }
    const confidence = this.cycle.acf * sampleConfidence(this.window / p, 4);
    return buildForecast(this.h, this.model, req, points, confidence, this.concRatio);
  }
}

/** No period: the recent window's empirical distribution, the same every minute. */
class RecentMarginalModel implements FittedModel {
  readonly model = "cycle";
  private readonly mean: number;
  private readonly deviations: Float64Array;
  constructor(
    private readonly h: SeriesHistory,
    recent: Float64Array,
    private readonly concRatio: number,
  ) {
    let s = 0;
    for (const v of recent) s += v;
    this.mean = recent.length ? s / recent.length : 0;
    this.deviations = Float64Array.from(recent, (v) => v - this.mean).sort();
  }

  predict(req: PredictRequest): Forecast {
    const point = pointFrom(this.mean, this.deviations, req.level);
    const points = Array.from({ length: req.horizon }, () => point);
    const confidence = sampleConfidence(this.deviations.length, 60) * 0.5;
    return buildForecast(this.h, this.model, req, points, confidence, this.concRatio);
  }
}

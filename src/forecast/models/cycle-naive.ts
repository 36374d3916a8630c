import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { type CountCdf, empiricalCountCdf } from "../pit.js";
import { normalQuantile, quantileSorted } from "../stats.js";
import {
  buildForecast,
  concurrencyRatio,
  countInterval,
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
  /**
   * The forecast aggregates the values at the same phase in the latest k cycles, k the one of these with
   * the least in-sample one-cycle-ahead absolute error: few cycles follow a phase shift sooner, more
   * cycles average out count noise.
   */
  cycles: number[];
  /** "median" minimises absolute error (MASE); "mean" gives the expected count. */
  aggregate: "median" | "mean";
  /** Family-wise false-alarm rate of the autocorrelation test over all lags searched. */
  alpha: number;
  /** Without a significant period: forecast the recent window's distribution (true) or throw (false). */
  fallback: boolean;
}

export const CYCLE_DEFAULTS: CycleNaiveOptions = {
  windowMinutes: 720,
  minPeriod: 2,
  maxPeriod: 120,
  cycles: [1, 3, 5, 9, 15],
  aggregate: "median",
  alpha: 0.01,
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
 * local peak, exceeds the white-noise bound z/√(n − k), and exceeds the lag-1 value by z·√(2/(n − k))
 * (z Bonferroni-corrected over the lags searched): only then does "same phase one cycle ago" predict
 * better than "the minute before", which rules out trends and slow drifts whose autocorrelation is high
 * at every lag. A period's multiples peak as high as the period itself, so the best lag gives way to its
 * shortest divisor that also counts and is lower by no more than noise (the same bound).
 */
export function detectCycle(
  y: ArrayLike<number>,
  o: CycleNaiveOptions = CYCLE_DEFAULTS,
): DetectedCycle | null {
  const n = y.length;
  const maxLag = Math.min(o.maxPeriod, Math.floor(n / 4));
  if (maxLag < o.minPeriod) return null;
  const r = autocorrelation(y, maxLag + 1);
  const z = normalQuantile(1 - o.alpha / (2 * (maxLag - o.minPeriod + 1)));
  const noise = (k: number) => z * Math.sqrt(2 / (n - k));
  const counts = (k: number) => r[k]! > z / Math.sqrt(n - k) && r[k]! > r[1]! + noise(k);
  let best = 0;
  for (let k = o.minPeriod; k <= maxLag; k++) {
    const isPeak = r[k]! >= r[k - 1]! && r[k]! >= r[k + 1]!;
    if (isPeak && counts(k) && (best === 0 || r[k]! > r[best]!)) best = k;
  }
  if (best === 0) return null;
  let period = best;
  for (let d = o.minPeriod; d < best; d++) {
    if (best % d === 0 && counts(d) && r[d]! >= r[best]! - noise(best)) {
      period = d;
      break;
    }
  }
  return { period, acf: r[period]!, acf1: r[1]! };
}

/**
 * Seasonal naive with a learned short period, anchored at the latest data: ŷ(t) aggregates the values at
 * t's phase in the last k cycles of the history (k learned, see `cycles`). For timers whose per-minute
 * counts repeat every few minutes (an 80-second timer: 3 arrivals per 4 minutes) and whose phase drifts:
 * a few cycles after a shift the forecast has forgotten it. The predictive distribution is the forecast plus the in-sample
 * errors of the same forecast made `s` cycles ahead (s as for the minute forecast), so intervals widen
 * with the lead as far as the history says they should. Without a significant period: the empirical
 * distribution of the recent window (its mean as the forecast), or, with `fallback: false` (auto's
 * `cycle-strict`), a throw, so that auto's other candidates take such series.
 */
export class CycleNaiveForecaster implements Forecaster {
  readonly name = "cycle";
  private readonly o: CycleNaiveOptions;
  constructor(options: Partial<CycleNaiveOptions> = {}) {
    this.o = { ...CYCLE_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    // An empty history is no error: it forecasts zero arrivals (the fallback of an empty window).
    const y = validArrivals(h, 0);
    const recent = y.subarray(Math.max(0, y.length - this.o.windowMinutes));
    const cycle = detectCycle(recent, this.o);
    if (!cycle && !this.o.fallback) throw new Error("no significant period");
    return cycle
      ? new CycleModel(h, y, recent.length, cycle, this.o.aggregate, this.o.cycles, concurrencyRatio(h))
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
  const cdf: CountCdf = empiricalCountCdf(sortedErrors, v);
  const t = (1 - level) / 2;
  const guess = (q: number) => v + (sortedErrors.length ? quantileSorted(sortedErrors, q) : 0);
  const { lower, upper } = countInterval(cdf, level, guess(t), guess(1 - t));
  return { expected: v, lower: Math.min(v, lower), upper: Math.max(v, upper), pAny: 1 - cdf(0), cdf };
}

export class CycleModel implements FittedModel {
  readonly model = "cycle";
  /** Cycles aggregated per forecast. */
  readonly k: number;
  /** Sorted in-sample errors by lead in cycles (computed on demand: predict is called per level). */
  private readonly errors = new Map<number, Float64Array>();
  constructor(
    private readonly h: SeriesHistory,
    private readonly y: Float64Array,
    private readonly window: number,
    readonly cycle: DetectedCycle,
    private readonly how: CycleNaiveOptions["aggregate"],
    candidates: number[],
    private readonly concRatio: number,
  ) {
    this.k = candidates[0] ?? 1;
    let best = Number.POSITIVE_INFINITY;
    for (const k of candidates) {
      const e = this.inSampleErrors(1, k);
      let ae = 0;
      for (const v of e) ae += Math.abs(v);
      if (e.length > 0 && ae / e.length < best) {
        best = ae / e.length;
        this.k = k;
      }
    }
  }

  /** The forecast of index i from k cycles starting `s` cycles back (null: none in the history). */
  private forecastAt(i: number, s: number, k = this.k): number | null {
    const p = this.cycle.period;
    const vals: number[] = [];
    for (let m = s; m < s + k; m++) {
      const j = i - m * p;
      if (j >= 0 && j < this.y.length) vals.push(this.y[j]!);
    }
    return vals.length ? aggregate(vals, this.how) : null;
  }

  /** y(t) − ŷ(t) over the window, ŷ from k cycles `s` cycles back (targets with s cycles of history). */
  private inSampleErrors(s: number, k: number): number[] {
    const n = this.y.length;
    const out: number[] = [];
    for (let t = Math.max(n - this.window, s * this.cycle.period); t < n; t++) {
      const f = this.forecastAt(t, s, k);
      if (f !== null) out.push(this.y[t]! - f);
    }
    return out;
  }

  /** Sorted in-sample errors at lead `s` cycles; leads with too few fall back to shorter ones. */
  private errorsAt(s: number): Float64Array {
    const cached = this.errors.get(s);
    if (cached) return cached;
    const out = this.inSampleErrors(s, this.k);
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

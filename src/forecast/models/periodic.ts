import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { empiricalCountCdf } from "../pit.js";
import { quantileSorted } from "../stats.js";
import {
  buildForecast,
  concurrencyRatio,
  type MinutePoint,
  sampleConfidence,
  validArrivals,
} from "./common.js";

export interface PeriodicOptions {
  /** Longest window searched for periods (rounded down to a power of two for the FFT). */
  maxFitMinutes: number;
  /** Most periods kept (the strongest periodogram peaks). */
  maxPeriods: number;
  /** Family-wise false-alarm rate of the peak test over all frequencies. */
  alpha: number;
  /** A period must repeat this often in the searched window (slow drifts are not seasons). */
  minCycles: number;
  /**
   * Amplitudes and phases are refitted on the last `fitCycles` × the longest period (≥ minFitMinutes):
   * few cycles, because clock drift shifts a timer's minute pattern within hours.
   */
  fitCycles: number;
  minFitMinutes: number;
  /**
   * Residuals (intervals, distribution) are taken over the last this many minutes (at least the fit
   * window): beyond the fit window they are backcast errors, like the forecast's own extrapolation.
   */
  residualMinutes: number;
  /** Periods closer in frequency than 2 / this are not told apart (one is kept). */
  resolutionMinutes: number;
  /** Peaks weaker than this share of the strongest are left out (leakage and sidelobes). */
  minRelativePower: number;
}

export const PERIODIC_DEFAULTS: PeriodicOptions = {
  maxFitMinutes: 4096,
  maxPeriods: 6,
  alpha: 0.01,
  minCycles: 3,
  fitCycles: 4,
  minFitMinutes: 120,
  residualMinutes: 120,
  resolutionMinutes: 120,
  minRelativePower: 0.1,
};

/** In-place iterative radix-2 FFT (re, im of a power-of-two length). */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len)
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k);
        const wi = Math.sin(ang * k);
        const a = i + k;
        const b = a + len / 2;
        const xr = re[b]! * wr - im[b]! * wi;
        const xi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a]! += xr;
        im[a]! += xi;
      }
  }
}

/**
 * Significant periods (minutes) of a series, strongest first: local maxima of the periodogram of the
 * last 2^k minutes that exceed the white-noise level by the Bonferroni bound of an exponential tail,
 * ln(M / α) (periodogram ordinates of noise are ~ exponential; the level is the median / ln 2, which
 * peaks barely move). Empty when nothing stands out, e.g. for white noise.
 */
export function detectPeriods(y: ArrayLike<number>, o: PeriodicOptions = PERIODIC_DEFAULTS): number[] {
  let n = 1;
  while (n * 2 <= Math.min(y.length, o.maxFitMinutes)) n *= 2;
  if (n < 32) return [];
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[y.length - n + i]!;
  mean /= n;
  for (let i = 0; i < n; i++) re[i] = y[y.length - n + i]! - mean;
  fft(re, im);
  const half = n / 2;
  const power = new Float64Array(half + 1);
  for (let k = 1; k <= half; k++) power[k] = (re[k]! ** 2 + im[k]! ** 2) / n;
  const sorted = Float64Array.from(power.subarray(1)).sort();
  const noise = quantileSorted(sorted, 0.5) / Math.LN2;
  if (!(noise > 0)) return [];
  const threshold = noise * Math.log(half / o.alpha);
  const peaks: Array<[number, number]> = [];
  for (let k = Math.max(1, o.minCycles); k <= half; k++) {
    const p = power[k]!;
    if (p > threshold && p >= power[k - 1]! && (k === half || p >= power[k + 1]!)) peaks.push([k, p]);
  }
  peaks.sort((a, b) => b[1] - a[1]);
  // Keep a weaker peak only if its frequency is resolvable from every stronger one on the refit window
  // (a timer whose phase drifts smears into neighbouring peaks: 4.00 and 4.01 minutes would beat).
  // Two bins of the refit window apart; and sidelobes far weaker than the main peak are dropped.
  const resolution = 2 / o.resolutionMinutes;
  const kept: number[] = [];
  for (const [k, p] of peaks) {
    if (kept.length >= o.maxPeriods || p < o.minRelativePower * peaks[0]![1]) break;
    if (kept.every((q) => Math.abs(k / n - 1 / q) >= resolution)) kept.push(n / k);
  }
  return kept;
}

/** Solves the symmetric system A x = b (Gaussian elimination, partial pivoting); A is n × n row-major. */
function solve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r * n + c]!) > Math.abs(A[piv * n + c]!)) piv = r;
    if (piv !== c) {
      for (let j = 0; j < n; j++) [A[c * n + j], A[piv * n + j]] = [A[piv * n + j]!, A[c * n + j]!];
      [b[c], b[piv]] = [b[piv]!, b[c]!];
    }
    const d = A[c * n + c]!;
    if (Math.abs(d) < 1e-12) continue;
    for (let r = c + 1; r < n; r++) {
      const f = A[r * n + c]! / d;
      for (let j = c; j < n; j++) A[r * n + j]! -= f * A[c * n + j]!;
      b[r]! -= f * b[c]!;
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let j = r + 1; j < n; j++) s -= A[r * n + j]! * x[j]!;
    const d = A[r * n + r]!;
    x[r] = Math.abs(d) < 1e-12 ? 0 : s / d;
  }
  return x;
}

/** Harmonic regression: level + cos/sin at each period, by least squares (tiny ridge for stability). */
function harmonicFit(y: Float64Array, t0: number, periods: number[]): (t: number) => number {
  const p = 1 + 2 * periods.length;
  const row = (t: number, out: Float64Array) => {
    out[0] = 1;
    periods.forEach((P, j) => {
      out[1 + 2 * j] = Math.cos((2 * Math.PI * t) / P);
      out[2 + 2 * j] = Math.sin((2 * Math.PI * t) / P);
    });
  };
  const A = new Float64Array(p * p);
  const b = new Float64Array(p);
  const x = new Float64Array(p);
  for (let i = 0; i < y.length; i++) {
    row(t0 + i, x);
    for (let r = 0; r < p; r++) {
      b[r]! += x[r]! * y[i]!;
      for (let c = 0; c < p; c++) A[r * p + c]! += x[r]! * x[c]!;
    }
  }
  for (let r = 1; r < p; r++) A[r * p + r]! += 1e-6 * y.length;
  const beta = solve(A, b, p);
  const buf = new Float64Array(p);
  return (t) => {
    row(t, buf);
    let s = 0;
    for (let r = 0; r < p; r++) s += beta[r]! * buf[r]!;
    return s;
  };
}

/**
 * Periodicity model (as in IceBreaker, or Crane's DSP predictor): the dominant periods of the
 * per-minute counts from the periodogram, the signal rebuilt from them by harmonic regression on the
 * recent cycles (so a timer whose phase drifts is followed) and extended forward. Intervals and the
 * predictive distribution come from the in-sample residuals. Without a significant period it falls
 * back to the recent mean with the same residual intervals (`periods` is then empty).
 */
export class PeriodicForecaster implements Forecaster {
  readonly name = "fft";
  private readonly o: PeriodicOptions;
  constructor(options: Partial<PeriodicOptions> = {}) {
    this.o = { ...PERIODIC_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const y = validArrivals(h, 10);
    const periods = detectPeriods(y, this.o);
    const longest = periods.length ? Math.max(...periods) : 0;
    const w = Math.min(y.length, Math.max(this.o.minFitMinutes, Math.ceil(this.o.fitCycles * longest)));
    const t0 = y.length - w;
    const recent = y.subarray(t0);
    const signal = harmonicFit(recent, t0, periods);
    const r0 = y.length - Math.min(y.length, Math.max(w, this.o.residualMinutes));
    const span = y.subarray(r0);
    const residuals = Float64Array.from(span, (v, i) => v - signal(r0 + i)).sort();
    let sse = 0;
    let sst = 0;
    let m = 0;
    for (const v of span) m += v / span.length;
    span.forEach((v, i) => {
      sse += (v - signal(r0 + i)) ** 2;
      sst += (v - m) ** 2;
    });
    const explained = sst > 0 ? Math.max(0, 1 - sse / sst) : 0;
    return new PeriodicModel(h, periods, signal, residuals, sampleConfidence(w, 60) * explained);
  }
}

export class PeriodicModel implements FittedModel {
  readonly model = "fft";
  private readonly concRatio: number;
  constructor(
    private readonly h: SeriesHistory,
    /** Periods used, strongest first (empty: the recent-mean fallback). */
    readonly periods: number[],
    private readonly signal: (t: number) => number,
    private readonly residuals: Float64Array,
    private readonly confidence: number,
  ) {
    this.concRatio = concurrencyRatio(h);
  }

  predict(req: PredictRequest): Forecast {
    const t = (1 - req.level) / 2;
    const qLo = quantileSorted(this.residuals, t);
    const qUp = quantileSorted(this.residuals, 1 - t);
    const points: MinutePoint[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const s = this.signal(req.fromMinute + k - this.h.startMinute);
      const cdf = empiricalCountCdf(this.residuals, s, 1);
      const e = Math.max(0, s);
      points.push({
        expected: e,
        lower: Math.min(e, Math.max(0, s + qLo)),
        upper: Math.max(e, s + qUp),
        pAny: 1 - cdf(0),
        cdf,
      });
    }
    return buildForecast(this.h, this.model, req, points, this.confidence, this.concRatio);
  }
}

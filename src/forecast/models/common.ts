import type { Forecast, Interval, MinuteForecast, PredictRequest, SeriesHistory } from "../forecaster.js";
import { type CountCdf, normalCountCdf, poissonCdf } from "../pit.js";
import { resourceForecast } from "../resources.js";
import { normalQuantile, poissonQuantile } from "../stats.js";

/** Throws on NaN, infinite or negative arrivals: a model's fit must fail loudly so a caller falls back. */
export function validArrivals(h: SeriesHistory, minLength = 1): Float64Array {
  const n = h.arrivals.length;
  if (n < minLength) throw new Error(`history of ${n} min is shorter than ${minLength}`);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = h.arrivals[i]!;
    if (!Number.isFinite(v) || v < 0) throw new Error(`arrivals[${i}] = ${v}`);
    y[i] = v;
  }
  return y;
}

/** Last `max` values of a series (models with superlinear fits only look at the recent past). */
export function tail(y: Float64Array, max: number): Float64Array {
  return y.length > max ? y.subarray(y.length - max) : y;
}

/** Mean concurrency per arrival over the history (1 where the series has none). */
export function concurrencyRatio(h: SeriesHistory): number {
  if (!h.concurrency) return 1;
  let a = 0;
  let c = 0;
  for (let i = 0; i < h.arrivals.length; i++) {
    a += h.arrivals[i]!;
    c += h.concurrency[i] ?? 0;
  }
  return a > 0 && c > 0 ? c / a : 1;
}

export function isConstant(y: ArrayLike<number>): boolean {
  for (let i = 1; i < y.length; i++) if (y[i] !== y[0]) return false;
  return true;
}

/** One minute's point forecast, interval and P(any) before concurrency is derived from it. */
export interface MinutePoint {
  expected: number;
  lower: number;
  upper: number;
  pAny: number;
  /** Predictive CDF of the count (see MinuteForecast.cdf). */
  cdf?: CountCdf;
}

const clean = (x: number): number => (Number.isFinite(x) && x > 0 ? x : 0);

/** Poisson around the expected count: the default for models that only give a mean. */
export function poissonPoint(lambda: number, level: number): MinutePoint {
  const l = clean(lambda);
  const t = (1 - level) / 2;
  return {
    expected: l,
    lower: poissonQuantile(l, t),
    upper: poissonQuantile(l, 1 - t),
    pAny: 1 - Math.exp(-l),
    cdf: poissonCdf(l),
  };
}

/**
 * A model's own Gaussian-ish interval, clipped to counts ≥ 0; P(any) from the mean as Poisson, since a
 * Gaussian says nothing useful about P(y ≥ 1) for counts near zero.
 */
export function intervalPoint(expected: number, lower: number, upper: number): MinutePoint {
  const e = clean(expected);
  const lo = Math.min(clean(lower), e);
  const up = Math.max(clean(upper), e);
  return { expected: e, lower: lo, upper: up, pAny: 1 - Math.exp(-e) };
}

/**
 * A Gaussian interval e − down … e + up at `level` (down/up already rescaled to it), with the normal it
 * stands for as the predictive distribution: sd = (down + up) / (2 z), which does not depend on the level.
 */
export function normalPoint(expected: number, down: number, up: number, level: number): MinutePoint {
  const z = normalQuantile(1 - (1 - level) / 2);
  const sd = z > 0 ? Math.max(0, down + up) / (2 * z) : 0;
  return { ...intervalPoint(expected, expected - down, expected + up), cdf: normalCountCdf(expected, sd) };
}

/** Rescales a symmetric interval fitted at `fittedLevel` to `level` (normal quantile ratio). */
export function rescaleHalfWidth(halfWidth: number, fittedLevel: number, level: number): number {
  const zFit = normalQuantile(1 - (1 - fittedLevel) / 2);
  const z = normalQuantile(1 - (1 - level) / 2);
  return zFit > 0 ? (halfWidth * z) / zFit : halfWidth;
}

/** Assembles the seam's Forecast from per-minute points; concurrency scales arrivals by `concRatio`. */
export function buildForecast(
  h: SeriesHistory,
  model: string,
  req: PredictRequest,
  points: MinutePoint[],
  confidence: number,
  concRatio = 1,
): Forecast {
  const minutes: MinuteForecast[] = points.map((p, k) => {
    const arrivals: Interval = { expected: clean(p.expected), lower: clean(p.lower), upper: clean(p.upper) };
    const concurrency: Interval = {
      expected: arrivals.expected * concRatio,
      lower: arrivals.lower * concRatio,
      upper: arrivals.upper * concRatio,
    };
    const pAny = Number.isFinite(p.pAny) ? Math.min(1, Math.max(0, p.pAny)) : 0;
    return { minute: req.fromMinute + k, arrivals, concurrency, pAny, ...(p.cdf ? { cdf: p.cdf } : {}) };
  });
  return {
    user: h.user,
    taskType: h.taskType,
    model,
    level: req.level,
    fromMinute: req.fromMinute,
    minutes,
    confidence: Number.isFinite(confidence) ? Math.min(1, Math.max(0, confidence)) : 0,
    resources: resourceForecast(h.resources, req.level),
  };
}

/** Seasonal period used for seasonal naive and the MASE scale: the longest calendar period seen twice. */
export function seasonPeriodFor(length: number): number {
  if (length >= 2 * 1440) return 1440;
  if (length >= 2 * 60) return 60;
  return 1;
}

/** Confidence from sample size alone: n / (n + prior). */
export function sampleConfidence(n: number, prior: number): number {
  return n > 0 ? n / (n + prior) : 0;
}

/**
 * The q-quantile of a count distribution spread uniformly over each count's cell [c − ½, c + ½] (the
 * continuous version the PIT judges, Czado et al. 2009). A central interval of these quantiles holds a
 * count c when c's cell centre lies inside it, so on average it covers about its level, where the plain
 * count quantiles of a distribution with few values cover much more (0…2 around 1 covers every minute).
 * `guess` (a count near the quantile) saves the search.
 */
export function jitteredQuantile(cdf: CountCdf, q: number, guess: number): number {
  let c = Math.max(0, Math.round(Number.isFinite(guess) ? guess : 0));
  for (let i = 0; i < 10_000 && c > 0 && cdf(c - 1) >= q; i++) c--;
  for (let i = 0; i < 10_000 && cdf(c) < q; i++) c++;
  const below = c > 0 ? cdf(c - 1) : 0;
  const mass = cdf(c) - below;
  return mass > 0 ? Math.max(0, c - 0.5 + (q - below) / mass) : c;
}

/**
 * The central interval at `level` of jittered quantiles, as whole counts: the counts whose cells' centres
 * it holds (the same counts, so the same coverage, without bounds like 3.4 a planner would round up).
 */
export function countInterval(
  cdf: CountCdf,
  level: number,
  guessLower: number,
  guessUpper: number,
): { lower: number; upper: number } {
  const t = (1 - level) / 2;
  const lower = Math.ceil(jitteredQuantile(cdf, t, guessLower) - 1e-9);
  const upper = Math.floor(jitteredQuantile(cdf, 1 - t, guessUpper) + 1e-9);
  return { lower, upper: Math.max(lower, upper) };
}

import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { empiricalCountCdf, zeroInflatedCdf } from "../pit.js";
import { mean, quantileSorted } from "../stats.js";
import {
  buildForecast,
  concurrencyRatio,
  type MinutePoint,
  sampleConfidence,
  validArrivals,
} from "./common.js";

export interface IntermittentOptions {
  /** Smoothing grids searched per series by in-sample one-step squared error. */
  alphas: number[];
  betas: number[];
  /** Non-zero demand sizes kept for the size distribution of intervals. */
  sizeSamples: number;
}

const DEFAULTS: IntermittentOptions = { alphas: [0.05, 0.2], betas: [0.01, 0.05, 0.2], sizeSamples: 200 };

interface SmoothState {
  /** TSB: probability of demand per minute; Croston: 1 / smoothed interval. */
  p: number;
  /** Smoothed non-zero demand size. */
  z: number;
  sse: number;
}

/**
 * TSB (Teunter, Syntetos & Babai 2011): the demand probability p is smoothed every minute — so it
 * decays geometrically through a long idle spell — and the size z only when demand occurs. Forecast =
 * p·z, flat over the horizon; P(any) = p; intervals come from the mixture "0 with 1 − p, else an
 * empirical size".
 */
function runTsb(y: Float64Array, alpha: number, beta: number): SmoothState {
  const init = initialState(y);
  let p = init.rate;
  let z = init.size;
  let sse = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    sse += (v - p * z) ** 2;
    const any = v > 0 ? 1 : 0;
    p += beta * (any - p);
    if (any) z += alpha * (v - z);
  }
  return { p, z, sse };
}

/**
 * Starting values from the whole history (share of busy minutes, mean size) rather than from the first
 * arrival, which would make a series that opens with a burst look busy for a long time.
 */
function initialState(y: Float64Array): { rate: number; size: number } {
  let busy = 0;
  let sum = 0;
  for (const v of y)
    if (v > 0) {
      busy++;
      sum += v;
    }
  return { rate: y.length ? busy / y.length : 0, size: busy ? sum / busy : 0 };
}

/** Croston with the SBA bias correction: demand interval and size smoothed only at demand. */
function runCroston(y: Float64Array, alpha: number): SmoothState {
  const init = initialState(y);
  let z = init.size;
  let interval = init.rate > 0 ? 1 / init.rate : y.length + 1;
  let since = 0;
  let sse = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    since++;
    sse += (v - ((1 - alpha / 2) * z) / interval) ** 2;
    if (v > 0) {
      z += alpha * (v - z);
      interval += alpha * (since - interval);
      since = 0;
    }
  }
  return { p: Math.min(1, (1 - alpha / 2) / Math.max(1, interval)), z, sse };
}

abstract class IntermittentForecaster implements Forecaster {
  abstract readonly name: string;
  protected readonly o: IntermittentOptions;
  constructor(options: Partial<IntermittentOptions> = {}) {
    this.o = { ...DEFAULTS, ...options };
  }
  protected abstract smooth(y: Float64Array): SmoothState;

  fit(h: SeriesHistory): FittedModel {
    const y = validArrivals(h, 1);
    const sizes: number[] = [];
    for (let i = y.length - 1; i >= 0 && sizes.length < this.o.sizeSamples; i--)
      if (y[i]! > 0) sizes.push(y[i]!);
    if (sizes.length === 0) throw new Error("no arrivals to learn from");
    const s = this.smooth(y);
    const sorted = Float64Array.from(sizes).sort();
    // Keep the mean size consistent with the smoothed z (z decides the expectation; the sample the shape).
    const scale = s.z / mean(sorted);
    for (let i = 0; i < sorted.length; i++) sorted[i]! *= scale;
    return new IntermittentModel(h, this.name, s.p, s.z, sorted, sizes.length, concurrencyRatio(h));
  }
}

export class TsbForecaster extends IntermittentForecaster {
  readonly name = "tsb";
  protected smooth(y: Float64Array): SmoothState {
    let best: SmoothState | null = null;
    for (const a of this.o.alphas)
      for (const b of this.o.betas) {
        const s = runTsb(y, a, b);
        if (!best || s.sse < best.sse) best = s;
      }
    return best!;
  }
}

export class CrostonForecaster extends IntermittentForecaster {
  readonly name = "croston";
  protected smooth(y: Float64Array): SmoothState {
    let best: SmoothState | null = null;
    for (const a of this.o.alphas) {
      const s = runCroston(y, a);
      if (!best || s.sse < best.sse) best = s;
    }
    return best!;
  }
}

class IntermittentModel implements FittedModel {
  constructor(
    private readonly h: SeriesHistory,
    readonly model: string,
    /** Probability of ≥ 1 arrival in a minute. */
    readonly p: number,
    /** Smoothed size of a non-zero minute. */
    readonly z: number,
    private readonly sizes: Float64Array,
    private readonly busyMinutes: number,
    private readonly concRatio: number,
  ) {}

  /** q-quantile of the mixture "0 with probability 1 − p, else a size". */
  private mixtureQuantile(q: number): number {
    if (q <= 1 - this.p) return 0;
    return quantileSorted(this.sizes, (q - (1 - this.p)) / this.p);
  }

  predict(req: PredictRequest): Forecast {
    const t = (1 - req.level) / 2;
    const point: MinutePoint = {
      expected: this.p * this.z,
      lower: this.mixtureQuantile(t),
      upper: this.mixtureQuantile(1 - t),
      pAny: this.p,
      cdf: zeroInflatedCdf(1 - this.p, empiricalCountCdf(this.sizes)),
    };
    const points = Array.from({ length: req.horizon }, () => point);
    return buildForecast(
      this.h,
      this.model,
      req,
      points,
      sampleConfidence(this.busyMinutes, 10),
      this.concRatio,
    );
  }
}

import type { FittedModel, Forecast, Interval, PredictRequest } from "./forecaster.js";
import type { PitRecalibration } from "./pit.js";

/** Quantile levels are kept off 0 and 1: a model asked for a 100 % interval may answer ±∞. */
const Q_MIN = 1e-4;
const Q_MAX = 1 - 1e-4;

/**
 * A fitted model whose distribution is recalibrated on held-out PIT values (Kuleshov, Fenner & Ermon
 * 2018): CDF G = R∘F, and the q-quantile of G is F's quantile at R⁻¹(q). F's quantiles are read from
 * the model's own central intervals at other levels (lower bound of level 1 − 2q, upper bound of level
 * 2q − 1), so any model with intervals can be recalibrated. The expectation and P(any) are kept: the
 * choice of model was made on them, and the planner's P(any) is scored on its own (Brier).
 */
export class RecalibratedModel implements FittedModel {
  constructor(
    private readonly inner: FittedModel,
    private readonly r: PitRecalibration,
  ) {}

  get model(): string {
    return this.inner.model;
  }

  predict(req: PredictRequest): Forecast {
    const base = this.inner.predict(req);
    const t = (1 - req.level) / 2;
    const lo = this.quantileSource(req, this.r.inverse(t));
    const hi = this.quantileSource(req, this.r.inverse(1 - t));
    const pick = (src: { f: Forecast; upper: boolean }, k: number, kind: "arrivals" | "concurrency") => {
      const i: Interval = src.f.minutes[k]![kind];
      return src.upper ? i.upper : i.lower;
    };
    const r = this.r;
    return {
      ...base,
      minutes: base.minutes.map((m, k) => {
        const widen = (kind: "arrivals" | "concurrency"): Interval => {
          const lower = Math.min(m[kind].expected, pick(lo, k, kind));
          const upper = Math.max(m[kind].expected, pick(hi, k, kind));
          return { expected: m[kind].expected, lower, upper };
        };
        const cdf = m.cdf;
        return {
          ...m,
          arrivals: widen("arrivals"),
          concurrency: widen("concurrency"),
          ...(cdf ? { cdf: (y: number) => r.map(cdf(y)) } : {}),
        };
      }),
    };
  }

  /** The forecast whose interval bound is F's q-quantile. */
  private quantileSource(req: PredictRequest, q: number): { f: Forecast; upper: boolean } {
    const c = Math.min(Q_MAX, Math.max(Q_MIN, q));
    const upper = c >= 0.5;
    const level = Math.max(2e-4, upper ? 2 * c - 1 : 1 - 2 * c);
    return { f: this.inner.predict({ ...req, level }), upper };
  }
}

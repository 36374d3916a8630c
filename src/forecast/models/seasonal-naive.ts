import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { empiricalCountCdf } from "../pit.js";
import { quantileSorted } from "../stats.js";
import {
  buildForecast,
  concurrencyRatio,
  type MinutePoint,
  sampleConfidence,
  seasonPeriodFor,
  validArrivals,
} from "./common.js";

export interface SeasonalNaiveOptions {
  /** Season length in minutes; 0 picks the longest calendar period (1440, 60, 1) the history covers twice. */
  period: number;
}

/**
 * "Same minute last season": ŷ(t) = y(t − k·m) for the smallest k that lands in the history. The
 * benchmark every other model is scored against (MASE). Intervals are empirical quantiles of the
 * in-sample seasonal differences, widened by √(seasons ahead) as for a seasonal random walk.
 */
export class SeasonalNaiveForecaster implements Forecaster {
  readonly name = "snaive";
  private readonly o: SeasonalNaiveOptions;
  constructor(options: Partial<SeasonalNaiveOptions> = {}) {
    this.o = { period: 0, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const y = validArrivals(h, 1);
    const period = this.o.period > 0 ? this.o.period : seasonPeriodFor(y.length);
    if (y.length < period) throw new Error(`history of ${y.length} min is shorter than one season ${period}`);
    const diffs = new Float64Array(Math.max(0, y.length - period));
    for (let i = period; i < y.length; i++) diffs[i - period] = y[i]! - y[i - period]!;
    diffs.sort();
    return new SeasonalNaiveModel(h, y, period, diffs, concurrencyRatio(h));
  }
}

class SeasonalNaiveModel implements FittedModel {
  readonly model = "snaive";
  constructor(
    private readonly h: SeriesHistory,
    private readonly y: Float64Array,
    readonly period: number,
    private readonly diffs: Float64Array,
    private readonly concRatio: number,
  ) {}

  predict(req: PredictRequest): Forecast {
    const n = this.y.length;
    const tailP = (1 - req.level) / 2;
    const qLo = this.diffs.length ? quantileSorted(this.diffs, tailP) : 0;
    const qUp = this.diffs.length ? quantileSorted(this.diffs, 1 - tailP) : 0;
    const points: MinutePoint[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const i = req.fromMinute + k - this.h.startMinute;
      const seasonsAhead = Math.max(1, Math.ceil((i - n + 1) / this.period));
      const src = i - seasonsAhead * this.period;
      const v = src >= 0 && src < n ? this.y[src]! : 0;
      const widen = Math.sqrt(seasonsAhead);
      points.push({
        expected: v,
        lower: Math.max(0, v + qLo * widen),
        upper: Math.max(v, v + qUp * widen),
        pAny: 1 - Math.exp(-v),
        // The distribution the interval is read from: v plus a widened in-sample seasonal difference.
        cdf: empiricalCountCdf(this.diffs, v, widen),
      });
    }
    return buildForecast(
      this.h,
      this.model,
      req,
      points,
      sampleConfidence(n / this.period, 2),
      this.concRatio,
    );
  }
}

import type {
  FittedModel,
  Forecast,
  Forecaster,
  MinuteForecast,
  PredictRequest,
  SeriesHistory,
} from "../forecaster.js";
import { poissonCdf } from "../pit.js";
import { resourceForecast } from "../resources.js";
import { poissonQuantile } from "../stats.js";

export interface SeasonalProfileOptions {
  /** Seasons looked back at, minutes (yesterday and last week by default). */
  periods: number[];
  /** Weight of each period, same order. */
  weights: number[];
  /** Half-width of the triangular smoothing kernel around the same minute, minutes. */
  smoothMinutes: number;
}

export const SEASONAL_DEFAULTS: SeasonalProfileOptions = {
  periods: [1440, 10080],
  weights: [0.5, 0.5],
  smoothMinutes: 5,
};

/**
 * "Same time yesterday / last week, smoothed": the expected arrivals at minute m are a weighted mean of
 * kernel-smoothed arrivals around m − period for each period that the history covers. Arrivals are
 * treated as Poisson around that mean for intervals and P(any). Good for dense daily or weekly
 * patterns; useless without at least one full period of history (fit throws, so a caller falls back).
 */
export class SeasonalProfileForecaster implements Forecaster {
  readonly name = "seasonal";
  private readonly o: SeasonalProfileOptions;
  constructor(options: Partial<SeasonalProfileOptions> = {}) {
    this.o = { ...SEASONAL_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const shortest = Math.min(...this.o.periods);
    if (h.arrivals.length < shortest)
      throw new Error(`history of ${h.arrivals.length} min is shorter than ${shortest}`);
    for (let i = 0; i < h.arrivals.length; i++) {
      const v = h.arrivals[i]!;
      if (!Number.isFinite(v) || v < 0) throw new Error(`arrivals[${i}] = ${v}`);
    }
    const model = new SeasonalProfileModel(h, this.o);
    model.calibrate();
    return model;
  }
}

class SeasonalProfileModel implements FittedModel {
  readonly model = "seasonal";
  private confidence = 0;
  private concRatio = 1;
  constructor(
    private readonly h: SeriesHistory,
    private readonly o: SeasonalProfileOptions,
  ) {}

  private at(minute: number): number | null {
    const i = minute - this.h.startMinute;
    return i >= 0 && i < this.h.arrivals.length ? this.h.arrivals[i]! : null;
  }

  /** Smoothed arrivals expected at `minute` from the seasons the history covers (null if none). */
  expectedAt(minute: number): number | null {
    let sum = 0;
    let wsum = 0;
    const w = this.o.smoothMinutes;
    this.o.periods.forEach((period, pi) => {
      let s = 0;
      let ks = 0;
      for (let d = -w; d <= w; d++) {
        const v = this.at(minute - period + d);
        if (v === null) continue;
        const k = w + 1 - Math.abs(d);
        s += k * v;
        ks += k;
      }
      if (ks > 0) {
        sum += (this.o.weights[pi] ?? 1) * (s / ks);
        wsum += this.o.weights[pi] ?? 1;
      }
    });
    return wsum > 0 ? sum / wsum : null;
  }

  /** Confidence from an in-sample check on the last period: correlation of profile and actuals. */
  calibrate(): void {
    const n = this.h.arrivals.length;
    const last = this.h.startMinute + n - 1;
    const span = Math.min(...this.o.periods);
    const xs: number[] = [];
    const ys: number[] = [];
    for (let m = last - span + 1; m <= last; m++) {
      const e = this.expectedAt(m);
      if (e === null) continue;
      xs.push(e);
      ys.push(this.at(m) ?? 0);
    }
    const r = correlation(xs, ys);
    const coverage = Math.min(1, n / Math.max(...this.o.periods));
    this.confidence = Math.max(0, Math.min(1, Number.isFinite(r) ? r : 0)) * (0.5 + 0.5 * coverage);
    if (this.h.concurrency) {
      let a = 0;
      let c = 0;
      for (let i = 0; i < n; i++) {
        a += this.h.arrivals[i]!;
        c += this.h.concurrency[i] ?? 0;
      }
      this.concRatio = a > 0 ? Math.max(c / a, 0) : 1;
    }
  }

  predict(req: PredictRequest): Forecast {
    const tail = (1 - req.level) / 2;
    const minutes: MinuteForecast[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const minute = req.fromMinute + k;
      const lambda = Math.max(0, this.expectedAt(minute) ?? 0);
      const conc = lambda * this.concRatio;
      minutes.push({
        minute,
        pAny: 1 - Math.exp(-lambda),
        cdf: poissonCdf(lambda),
        arrivals: {
          expected: lambda,
          lower: poissonQuantile(lambda, tail),
          upper: poissonQuantile(lambda, 1 - tail),
        },
        concurrency: {
          expected: conc,
          lower: poissonQuantile(conc, tail),
          upper: poissonQuantile(conc, 1 - tail),
        },
      });
    }
    return {
      user: this.h.user,
      taskType: this.h.taskType,
      model: this.model,
      level: req.level,
      fromMinute: req.fromMinute,
      minutes,
      confidence: this.confidence,
      resources: resourceForecast(this.h.resources, req.level),
    };
  }
}

function correlation(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 3) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
}

import {
  checkForecast,
  type FittedModel,
  type Forecast,
  type Forecaster,
  type PredictRequest,
  type SeriesHistory,
} from "./forecaster.js";
import { buildForecast, poissonPoint } from "./models/common.js";
import { truncateHistory } from "./series.js";
import { classifySeries, type SeriesShape } from "./shape.js";

/** Poisson at the recent mean rate. Cannot fail: the floor every chain of fallbacks ends on. */
export class MeanRateForecaster implements Forecaster {
  readonly name = "rate";
  constructor(private readonly windowMinutes = 1440) {}

  fit(h: SeriesHistory): FittedModel {
    const n = h.arrivals.length;
    const from = Math.max(0, n - this.windowMinutes);
    let s = 0;
    let seen = 0;
    for (let i = from; i < n; i++) {
      const v = h.arrivals[i]!;
      if (Number.isFinite(v) && v >= 0) {
        s += v;
        seen++;
      }
    }
    const lambda = seen > 0 ? s / seen : 0;
    const confidence = seen / (seen + 60);
    return {
      model: this.name,
      predict: (req: PredictRequest): Forecast =>
        buildForecast(
          h,
          this.name,
          req,
          Array.from({ length: req.horizon }, () => poissonPoint(lambda, req.level)),
          confidence,
        ),
    };
  }
}

export interface AutoOptions {
  /** Candidate model names per shape, in order of preference (ties keep the first). */
  candidates: Record<SeriesShape, string[]>;
  /** Minutes held out at the end of the history to choose between candidates. */
  holdoutMinutes: number;
}

export const AUTO_DEFAULTS: AutoOptions = {
  candidates: {
    // Expensive models only where the series is dense enough for them to pay.
    dense: ["mstl", "ets", "snaive", "seasonal", "tsb"],
    periodic: ["interarrival", "tsb", "snaive"],
    intermittent: ["tsb", "interarrival", "croston"],
    new: ["interarrival", "tsb"],
  },
  holdoutMinutes: 60,
};

/** What `auto` decided for one series (for reports and tests). */
export interface AutoChoice {
  shape: SeriesShape;
  chosen: string;
  /** Holdout score per candidate (lower is better; MAE for dense, Brier of P(any) otherwise). */
  scores: Record<string, number>;
}

type Lookup = (name: string) => Forecaster;

function holdoutScore(model: FittedModel, actual: ArrayLike<number>, from: number, useMae: boolean): number {
  const f = model.predict({ fromMinute: from, horizon: actual.length, level: 0.8 });
  if (checkForecast(f) !== null) return Number.POSITIVE_INFINITY;
  let s = 0;
  for (let k = 0; k < actual.length; k++) {
    const m = f.minutes[k]!;
    const y = actual[k]!;
    s += useMae ? Math.abs(y - m.arrivals.expected) : (m.pAny - (y > 0 ? 1 : 0)) ** 2;
  }
  return s / Math.max(1, actual.length);
}

/**
 * Per-series model choice: classify the series' shape, score that shape's candidates on a holdout at
 * the end of the history, refit the best on all of it. Fitting never throws: a candidate that fails
 * gives way to the next, and the mean-rate model is the floor. Predictions that fail or are invalid
 * fall back to the floor too.
 */
export class AutoForecaster implements Forecaster {
  readonly name = "auto";
  private readonly o: AutoOptions;
  lastChoice: AutoChoice | null = null;
  constructor(
    private readonly lookup: Lookup,
    options: Partial<AutoOptions> = {},
  ) {
    this.o = { ...AUTO_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const floor = new MeanRateForecaster().fit(h);
    let shape: SeriesShape = "new";
    const scores: Record<string, number> = {};
    let order: string[] = [];
    try {
      shape = classifySeries(h);
      order = this.rank(h, shape, scores);
    } catch {
      order = [];
    }
    for (const name of order) {
      try {
        const model = this.lookup(name).fit(h);
        this.lastChoice = { shape, chosen: name, scores };
        return new GuardedModel(model, floor);
      } catch {
        // Next candidate.
      }
    }
    this.lastChoice = { shape, chosen: floor.model, scores };
    return floor;
  }

  /** Candidates ordered by holdout score (unscorable ones after, in preference order). */
  private rank(h: SeriesHistory, shape: SeriesShape, scores: Record<string, number>): string[] {
    const names = this.o.candidates[shape];
    const hold = Math.min(this.o.holdoutMinutes, Math.floor(h.arrivals.length / 4));
    if (names.length < 2 || hold < 10) return names;
    const cut = h.startMinute + h.arrivals.length - hold;
    const train = truncateHistory(h, cut);
    const actual = Array.from({ length: hold }, (_, k) => h.arrivals[h.arrivals.length - hold + k]!);
    for (const name of names) {
      try {
        scores[name] = holdoutScore(this.lookup(name).fit(train), actual, cut, shape === "dense");
      } catch {
        scores[name] = Number.POSITIVE_INFINITY;
      }
    }
    const sa = (n: string): number => scores[n] ?? Number.POSITIVE_INFINITY;
    return [...names].sort((a, b) => (sa(a) === sa(b) ? 0 : sa(a) < sa(b) ? -1 : 1));
  }
}

/** Wraps the chosen model so that a throwing or invalid prediction degrades to the floor model. */
class GuardedModel implements FittedModel {
  constructor(
    private readonly inner: FittedModel,
    private readonly floor: FittedModel,
  ) {}

  get model(): string {
    return this.inner.model;
  }

  predict(req: PredictRequest): Forecast {
    try {
      const f = this.inner.predict(req);
      if (checkForecast(f) === null) return f;
    } catch {
      // Fall through to the floor.
    }
    return this.floor.predict(req);
  }
}

import {
  checkForecast,
  type FittedModel,
  type Forecast,
  type Forecaster,
  type PredictRequest,
  type SeriesHistory,
} from "./forecaster.js";
import { buildForecast, poissonPoint } from "./models/common.js";
import { PitRecalibration, pitBounds, poissonCdf } from "./pit.js";
import { RecalibratedModel } from "./recalibrate.js";
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
  /** Minutes forecast from each validation origin (the planner's horizon). */
  holdoutMinutes: number;
  /**
   * Validation origins for histories of ≥ 2 days: spread over the last day, so that the score sees
   * several times of day rather than one noisy hour. Shorter histories validate on their last hour only:
   * on 6-hour Azure histories, origins further back fit on much less data and score an older regime
   * (dense MASE 0.936 against 0.879 with the last hour alone).
   */
  validationOrigins: number;
  /**
   * The model the choice is scored against (seasonal naive: MASE's benchmark). When it is a candidate it
   * ranks first unless another candidate's validation loss is lower by more than `benchmarkZ` standard
   * errors, so that noise in a short validation span cannot make the choice much worse than it.
   * benchmarkZ 0 ranks on the mean loss alone.
   */
  benchmark: string | null;
  benchmarkZ: number;
  /** Shapes whose chosen model is recalibrated on its validation PIT values (none below 60 points). */
  recalibrate: SeriesShape[];
}

export const AUTO_DEFAULTS: AutoOptions = {
  candidates: {
    // Expensive models only where the series is dense enough for them to pay; seasonal naive stays in
    // the list so that the choice cannot do much worse than the benchmark it is scored against.
    dense: ["mstl", "ets", "snaive", "seasonal", "tsb", "cycle-strict"],
    periodic: ["interarrival", "tsb", "snaive", "cycle-strict"],
    intermittent: ["tsb", "interarrival", "croston"],
    new: ["interarrival", "tsb"],
  },
  holdoutMinutes: 60,
  validationOrigins: 4,
  benchmark: "snaive",
  benchmarkZ: 0,
  recalibrate: ["dense"],
};

/** What `auto` decided for one series (for reports and tests). */
export interface AutoChoice {
  shape: SeriesShape;
  chosen: string;
  /** Validation score per candidate (lower is better; MAE for dense, Brier of P(any) otherwise). */
  scores: Record<string, number>;
  /** Validation origins the scores are averaged over (0: too short to validate, preference order). */
  origins: number;
  /** Whether the chosen model's distribution was recalibrated on its validation PIT values. */
  recalibrated: boolean;
}

type Lookup = (name: string) => Forecaster;

/**
 * Validation origins (minutes) for a history and the minutes forecast from each (shortened to a quarter
 * of a short history): see AutoOptions.validationOrigins.
 */
export function validationOrigins(
  h: SeriesHistory,
  holdoutMinutes: number,
  max: number,
): { origins: number[]; hold: number } {
  const n = h.arrivals.length;
  const hold = Math.min(holdoutMinutes, Math.floor(n / 4));
  if (max < 1 || hold < 10) return { origins: [], hold };
  const count = n >= 2 * 1440 ? max : 1;
  const step = Math.max(hold, Math.floor(1440 / max));
  const end = h.startMinute + n;
  const out: number[] = [];
  for (let j = 0; j < count; j++) {
    const origin = end - hold - j * step;
    if (origin - h.startMinute < n / 2) break;
    out.push(origin);
  }
  return { origins: out, hold };
}

export interface Validation {
  /** Σ per-point loss and points, pooled over origins. */
  loss: number;
  points: number;
  /** Per-point losses, in order (for the paired comparison with the benchmark). */
  losses: number[];
  /** PIT intervals of every validation point (for recalibration). */
  pit: Array<[number, number]>;
}

/**
 * Per-series model choice: classify the series' shape, score that shape's candidates on rolling
 * validation origins at the end of the history (one hour is too noisy a sample for a series with days of
 * history), refit the best on all of it and, for the shapes that ask for it, recalibrate its distribution
 * on its validation PIT values. Fitting never throws: a candidate that fails gives way to the next, and
 * the mean-rate model is the floor. Predictions that fail or are invalid fall back to the floor too.
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
    const validations = new Map<string, Validation>();
    let order: string[] = [];
    let origins = 0;
    try {
      shape = classifySeries(h);
      const names = this.o.candidates[shape];
      const v =
        names.length > 1 || this.o.recalibrate.includes(shape)
          ? validationOrigins(h, this.o.holdoutMinutes, this.o.validationOrigins)
          : { origins: [], hold: 0 };
      origins = v.origins.length;
      order = this.rank(h, names, v, shape === "dense", scores, validations);
    } catch {
      order = [];
    }
    for (const name of order) {
      try {
        let model = this.lookup(name).fit(h);
        const pit = validations.get(name)?.pit ?? [];
        const recalibrated = this.o.recalibrate.includes(shape) && pit.length >= 60;
        if (recalibrated) model = new RecalibratedModel(model, new PitRecalibration(pit));
        this.lastChoice = { shape, chosen: name, scores, origins, recalibrated };
        return new GuardedModel(model, floor);
      } catch {
        // Next candidate.
      }
    }
    this.lastChoice = { shape, chosen: floor.model, scores, origins, recalibrated: false };
    return floor;
  }

  /** Candidates ordered by validation score (unscorable ones after, in preference order). */
  private rank(
    h: SeriesHistory,
    names: string[],
    at: { origins: number[]; hold: number },
    useMae: boolean,
    scores: Record<string, number>,
    validations: Map<string, Validation>,
  ): string[] {
    if (at.origins.length === 0) return names;
    for (const name of names) {
      const v: Validation = { loss: 0, points: 0, losses: [], pit: [] };
      try {
        for (const origin of at.origins) validate(this.lookup(name), h, origin, at.hold, useMae, v);
        scores[name] = v.points > 0 ? v.loss / v.points : Number.POSITIVE_INFINITY;
        validations.set(name, v);
      } catch {
        scores[name] = Number.POSITIVE_INFINITY;
      }
    }
    const sa = (n: string): number => scores[n] ?? Number.POSITIVE_INFINITY;
    const sorted = [...names].sort((a, b) => (sa(a) === sa(b) ? 0 : sa(a) < sa(b) ? -1 : 1));
    const bench = this.o.benchmark ? validations.get(this.o.benchmark) : undefined;
    if (!bench || this.o.benchmarkZ <= 0) return sorted;
    // The benchmark goes first unless a candidate beats it by more than noise (paired test below).
    const better = sorted.filter(
      (n) => n !== this.o.benchmark && clearlyBetter(validations.get(n), bench, this.o.benchmarkZ),
    );
    return [
      ...better,
      this.o.benchmark!,
      ...sorted.filter((n) => n !== this.o.benchmark && !better.includes(n)),
    ];
  }
}

/**
 * Whether `a`'s validation loss is below `b`'s by more than `z` standard errors of the paired difference.
 * Losses of neighbouring minutes are correlated, so the standard error comes from means of 10-minute
 * batches (batch means), not from single minutes.
 */
export function clearlyBetter(a: Validation | undefined, b: Validation, z: number): boolean {
  if (!a || a.losses.length !== b.losses.length || a.losses.length < 20) return false;
  const batch = 10;
  const means: number[] = [];
  for (let i = 0; i + batch <= a.losses.length; i += batch) {
    let d = 0;
    for (let j = i; j < i + batch; j++) d += a.losses[j]! - b.losses[j]!;
    means.push(d / batch);
  }
  const n = means.length;
  const m = means.reduce((x, y) => x + y, 0) / n;
  const sd = Math.sqrt(means.reduce((x, y) => x + (y - m) ** 2, 0) / Math.max(1, n - 1));
  return m < 0 && -m > (z * sd) / Math.sqrt(n);
}

/** Fits on the minutes before `origin`, forecasts `hold` minutes, adds loss and PIT intervals into `v`. */
function validate(
  forecaster: Forecaster,
  h: SeriesHistory,
  origin: number,
  hold: number,
  useMae: boolean,
  v: Validation,
): void {
  const f = forecaster
    .fit(truncateHistory(h, origin))
    .predict({ fromMinute: origin, horizon: hold, level: 0.8 });
  if (checkForecast(f) !== null) throw new Error(`invalid forecast from ${forecaster.name}`);
  const i0 = origin - h.startMinute;
  for (let k = 0; k < hold; k++) {
    const m = f.minutes[k]!;
    const y = h.arrivals[i0 + k]!;
    const loss = useMae ? Math.abs(y - m.arrivals.expected) : (m.pAny - (y > 0 ? 1 : 0)) ** 2;
    v.loss += loss;
    v.losses.push(loss);
    v.points++;
    v.pit.push(pitBounds(m.cdf ?? poissonCdf(m.arrivals.expected), y));
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

import { AutoETS } from "@bsull/augurs/ets";
import { MSTL } from "@bsull/augurs/mstl";
import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { mean } from "../stats.js";
import { augursError, ensureAugurs } from "./augurs-wasm.js";
import {
  buildForecast,
  concurrencyRatio,
  isConstant,
  type MinutePoint,
  normalPoint,
  rescaleHalfWidth,
  sampleConfidence,
  tail,
  validArrivals,
} from "./common.js";

export interface MstlOptions {
  /** Candidate seasonal periods in minutes; those the fitted window covers twice are used. */
  periods: number[];
  /** Most recent minutes fitted (MSTL/ETS cost grows with length). */
  maxFitMinutes: number;
  /** Longest horizon forecast at fit time; longer requests hold the last value. */
  maxHorizon: number;
  /** Interval level computed at fit time; other levels are rescaled from it. */
  fitLevel: number;
}

const DEFAULTS: MstlOptions = {
  periods: [60, 1440],
  maxFitMinutes: 3 * 1440,
  maxHorizon: 240,
  fitLevel: 0.8,
};

interface Path {
  point: number[];
  lower: number[];
  upper: number[];
}

/** Turns augurs' forecast into a Path, rejecting NaN so the caller falls back. */
function toPath(
  name: string,
  f: { point: number[]; intervals?: { lower: number[]; upper: number[] } },
): Path {
  const { point } = f;
  const lower = f.intervals?.lower ?? point;
  const upper = f.intervals?.upper ?? point;
  if (point.some((v) => !Number.isFinite(v))) throw new Error(`${name}: non-finite forecast`);
  return { point, lower, upper };
}

/**
 * Both models forecast a path once at fit time from the end of the history; predict reads it from the
 * requested minute (holding the last value past maxHorizon) so that predict stays cheap.
 */
class PathModel implements FittedModel {
  constructor(
    private readonly h: SeriesHistory,
    readonly model: string,
    private readonly path: Path,
    private readonly fitLevel: number,
    private readonly confidence: number,
    private readonly concRatio: number,
  ) {}

  predict(req: PredictRequest): Forecast {
    const end = this.h.startMinute + this.h.arrivals.length;
    const n = this.path.point.length;
    const points: MinutePoint[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const j = Math.min(n - 1, Math.max(0, req.fromMinute + k - end));
      const e = this.path.point[j]!;
      const down = rescaleHalfWidth(e - this.path.lower[j]!, this.fitLevel, req.level);
      const up = rescaleHalfWidth(this.path.upper[j]! - e, this.fitLevel, req.level);
      points.push(normalPoint(e, down, up, req.level));
    }
    return buildForecast(this.h, this.model, req, points, this.confidence, this.concRatio);
  }
}

function checkFittable(name: string, y: Float64Array, min: number): void {
  if (y.length < min) throw new Error(`${name}: history of ${y.length} min is shorter than ${min}`);
  if (isConstant(y)) throw new Error(`${name}: constant series`);
}

/** MSTL decomposition (one STL per calendar period) with an AutoETS model of the deseasonalised trend. */
export class MstlForecaster implements Forecaster {
  readonly name = "mstl";
  private readonly o: MstlOptions;
  constructor(options: Partial<MstlOptions> = {}) {
    this.o = { ...DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const y = tail(validArrivals(h), this.o.maxFitMinutes);
    const periods = this.o.periods.filter((p) => y.length >= 2 * p);
    checkFittable(this.name, y, 2 * Math.min(...this.o.periods));
    ensureAugurs("mstl");
    let path: Path;
    try {
      const m = MSTL.ets(periods);
      try {
        m.fit(y);
        path = toPath(this.name, m.predict(this.o.maxHorizon, this.o.fitLevel));
      } finally {
        m.free();
      }
    } catch (err) {
      throw augursError(this.name, err);
    }
    const conf = sampleConfidence(y.length / Math.max(...periods), 2);
    return new PathModel(h, this.name, path, this.o.fitLevel, conf, concurrencyRatio(h));
  }
}

/** AutoETS (no seasonality) on the recent window: level/trend chosen by AICc. */
export class EtsForecaster implements Forecaster {
  readonly name = "ets";
  private readonly o: MstlOptions;
  constructor(options: Partial<MstlOptions> = {}) {
    this.o = { ...DEFAULTS, maxFitMinutes: 720, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const y = tail(validArrivals(h), this.o.maxFitMinutes);
    checkFittable(this.name, y, 10);
    ensureAugurs("ets");
    let path: Path;
    try {
      const m = new AutoETS(1, "ZZN");
      try {
        m.fit(y);
        path = toPath(this.name, m.predict(this.o.maxHorizon, this.o.fitLevel));
      } finally {
        m.free();
      }
    } catch (err) {
      throw augursError(this.name, err);
    }
    const conf = sampleConfidence(y.length, 60) * (mean(y) > 0 ? 1 : 0);
    return new PathModel(h, this.name, path, this.o.fitLevel, conf, concurrencyRatio(h));
  }
}

import { Prophet, type ProphetOptions } from "@bsull/augurs/prophet";
import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
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

export interface ProphetModelOptions {
  /** Most recent minutes fitted (Stan's optimiser is the costliest step). */
  maxFitMinutes: number;
  maxHorizon: number;
  fitLevel: number;
  /** Simulated draws for intervals (Prophet's default 1000 is slow). */
  uncertaintySamples: number;
}

const DEFAULTS: ProphetModelOptions = {
  maxFitMinutes: 2 * 1440,
  maxHorizon: 240,
  fitLevel: 0.8,
  uncertaintySamples: 200,
};

type Optimizer = ProphetOptions["optimizer"];
let optimizer: Optimizer | null = null;

/**
 * Loads Stan's optimiser (a WASI component; its module initialises asynchronously). Call once before
 * fitting; until then fit throws and `auto` falls back.
 */
export async function prepareProphet(): Promise<void> {
  if (optimizer) return;
  const mod: { optimizer: unknown } = await import("@bsull/augurs-prophet-wasmstan");
  optimizer = mod.optimizer as Optimizer;
  ensureAugurs("prophet");
}

export function prophetReady(): boolean {
  return optimizer !== null;
}

const OFF = { type: "manual", enabled: false } as const;

/**
 * Prophet (piecewise-linear trend + Fourier seasonalities) fitted by MLE. Timestamps are the series'
 * minutes × 60 s so its daily seasonality lines up with the trace's minute-of-day; an hourly seasonality
 * is added because minute series often have sub-daily timers.
 */
export class ProphetForecaster implements Forecaster {
  readonly name = "prophet";
  private readonly o: ProphetModelOptions;
  constructor(options: Partial<ProphetModelOptions> = {}) {
    this.o = { ...DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    if (!optimizer) throw new Error("prophet: call prepareProphet() first");
    const y = tail(validArrivals(h), this.o.maxFitMinutes);
    if (y.length < 120) throw new Error(`prophet: history of ${y.length} min is shorter than 120`);
    if (isConstant(y)) throw new Error("prophet: constant series");
    const first = h.startMinute + h.arrivals.length - y.length;
    const end = h.startMinute + h.arrivals.length;
    let point: number[];
    let lower: number[];
    let upper: number[];
    try {
      const p = new Prophet({
        optimizer,
        dailySeasonality: y.length >= 2 * 1440 ? { type: "fourier", order: 8 } : OFF,
        weeklySeasonality: OFF,
        yearlySeasonality: OFF,
        intervalWidth: this.o.fitLevel,
        uncertaintySamples: this.o.uncertaintySamples,
      });
      try {
        p.addSeasonality("hourly", { period: 1 / 24, fourierOrder: 4 });
        p.fit({ ds: Array.from(y, (_, i) => (first + i) * 60), y });
        const ds = Array.from({ length: this.o.maxHorizon }, (_, k) => (end + k) * 60);
        const yhat = p.predict({ ds }).yhat;
        point = yhat.point;
        lower = yhat.intervals?.lower ?? point;
        upper = yhat.intervals?.upper ?? point;
      } finally {
        p.free();
      }
    } catch (err) {
      throw augursError(this.name, err);
    }
    if (point.some((v) => !Number.isFinite(v))) throw new Error("prophet: non-finite forecast");
    return new ProphetModel(h, point, lower, upper, this.o.fitLevel, sampleConfidence(y.length / 1440, 1));
  }
}

class ProphetModel implements FittedModel {
  readonly model = "prophet";
  private readonly concRatio: number;
  constructor(
    private readonly h: SeriesHistory,
    private readonly point: number[],
    private readonly lower: number[],
    private readonly upper: number[],
    private readonly fitLevel: number,
    private readonly confidence: number,
  ) {
    this.concRatio = concurrencyRatio(h);
  }

  predict(req: PredictRequest): Forecast {
    const end = this.h.startMinute + this.h.arrivals.length;
    const points: MinutePoint[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const j = Math.min(this.point.length - 1, Math.max(0, req.fromMinute + k - end));
      const e = this.point[j]!;
      const down = rescaleHalfWidth(e - this.lower[j]!, this.fitLevel, req.level);
      const up = rescaleHalfWidth(this.upper[j]! - e, this.fitLevel, req.level);
      points.push(normalPoint(e, down, up, req.level));
    }
    return buildForecast(this.h, this.model, req, points, this.confidence, this.concRatio);
  }
}

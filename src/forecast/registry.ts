import { AutoForecaster, MeanRateForecaster } from "./auto.js";
import type { FittedModel, Forecaster, SeriesHistory } from "./forecaster.js";
import { CycleNaiveForecaster } from "./models/cycle-naive.js";
import { InterArrivalForecaster } from "./models/interarrival.js";
import { LstmForecaster, prepareLstm } from "./models/lstm.js";
import { EtsForecaster, MstlForecaster } from "./models/mstl.js";
import { PeriodicForecaster } from "./models/periodic.js";
import { ProphetForecaster, prepareProphet } from "./models/prophet.js";
import { SeasonalNaiveForecaster } from "./models/seasonal-naive.js";
import { SeasonalProfileForecaster } from "./models/seasonal-profile.js";
import { CrostonForecaster, TsbForecaster } from "./models/tsb.js";

/** Forecasters by name. */
const FACTORIES = new Map<string, () => Forecaster>([
  ["interarrival", () => new InterArrivalForecaster()],
  ["seasonal", () => new SeasonalProfileForecaster()],
  ["snaive", () => new SeasonalNaiveForecaster()],
  ["tsb", () => new TsbForecaster()],
  ["croston", () => new CrostonForecaster()],
  ["rate", () => new MeanRateForecaster()],
  ["ets", () => new EtsForecaster()],
  ["mstl", () => new MstlForecaster()],
  ["prophet", () => new ProphetForecaster()],
  ["fft", () => new PeriodicForecaster()],
  ["cycle", () => new CycleNaiveForecaster()],
  ["cycle-strict", () => new CycleNaiveForecaster({ fallback: false })],
  ["lstm", () => new LstmForecaster()],
]);

/** Models whose runtime loads asynchronously; `prepareForecasters` must run before they can fit. */
const PREPARE = new Map<string, () => Promise<void>>([
  ["prophet", prepareProphet],
  ["lstm", prepareLstm],
]);

export function registerForecaster(name: string, factory: () => Forecaster): void {
  FACTORIES.set(name, factory);
}

export function forecasterNames(): string[] {
  return [...FACTORIES.keys()];
}

/** Loads the async runtimes (Prophet's Stan, tfjs) of the named models; others need nothing. */
export async function prepareForecasters(names: string[]): Promise<void> {
  for (const n of names) await PREPARE.get(n)?.();
}

export function createForecaster(name: string): Forecaster {
  if (name === "auto") {
    // One instance per name, so that auto's inner fits reuse option objects cheaply.
    const cache = new Map<string, Forecaster>();
    return new AutoForecaster((n) => {
      let f = cache.get(n);
      if (!f) {
        f = createForecaster(n);
        cache.set(n, f);
      }
      return f;
    });
  }
  const f = FACTORIES.get(name);
  if (!f) throw new Error(`unknown forecaster "${name}" (known: auto, ${forecasterNames().join(", ")})`);
  return f();
}

/**
 * Fits every candidate and keeps the one most confident in itself; candidates that cannot fit
 * (too short, degenerate) are skipped. Superseded by `auto` (holdout-based choice), kept for callers
 * that want it explicitly.
 */
export class BestConfidenceForecaster implements Forecaster {
  readonly name = "best-confidence";
  constructor(private readonly candidates: Forecaster[]) {}

  fit(history: SeriesHistory): FittedModel {
    let best: { model: FittedModel; confidence: number } | null = null;
    const errors: string[] = [];
    for (const c of this.candidates) {
      try {
        const model = c.fit(history);
        const probe = model.predict({
          fromMinute: history.startMinute + history.arrivals.length,
          horizon: 1,
          level: 0.8,
        });
        if (!best || probe.confidence > best.confidence) best = { model, confidence: probe.confidence };
      } catch (err) {
        errors.push(`${c.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!best) throw new Error(`no model could fit (${errors.join("; ")})`);
    return best.model;
  }
}

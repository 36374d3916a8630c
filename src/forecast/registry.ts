import type { FittedModel, Forecaster, SeriesHistory } from "./forecaster.js";
import { InterArrivalForecaster } from "./models/interarrival.js";
import { SeasonalProfileForecaster } from "./models/seasonal-profile.js";

/** Forecasters by name. The model zoo (issue 5) registers more here. */
const FACTORIES = new Map<string, () => Forecaster>([
  ["interarrival", () => new InterArrivalForecaster()],
  ["seasonal", () => new SeasonalProfileForecaster()],
]);

export function registerForecaster(name: string, factory: () => Forecaster): void {
  FACTORIES.set(name, factory);
}

export function forecasterNames(): string[] {
  return [...FACTORIES.keys()];
}

export function createForecaster(name: string): Forecaster {
  if (name === "auto")
    return new BestConfidenceForecaster([...FACTORIES.keys()].map((n) => createForecaster(n)));
  const f = FACTORIES.get(name);
  if (!f) throw new Error(`unknown forecaster "${name}" (known: auto, ${forecasterNames().join(", ")})`);
  return f();
}

/**
 * Fits every candidate and keeps the one most confident in itself; candidates that cannot fit
 * (too short, degenerate) are skipped. A stand-in for backtest-based choice per series.
 */
export class BestConfidenceForecaster implements Forecaster {
  readonly name = "auto";
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

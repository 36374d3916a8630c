import type { Interval, ResourceForecast, ResourceObservations } from "./forecaster.js";
import { mean, quantileSorted } from "./stats.js";

function interval(values: number[], level: number): Interval {
  const finite = values.filter((v) => Number.isFinite(v) && v >= 0);
  if (finite.length === 0) return { expected: 0, lower: 0, upper: 0 };
  const sorted = Float64Array.from(finite).sort();
  const tail = (1 - level) / 2;
  return {
    expected: mean(sorted),
    lower: quantileSorted(sorted, tail),
    upper: quantileSorted(sorted, 1 - tail),
  };
}

/** Per-task resource forecast from recent observations: mean and empirical quantiles at the level. */
export function resourceForecast(
  obs: ResourceObservations | undefined,
  level: number,
): ResourceForecast | null {
  if (!obs || obs.peakMemoryMb.length === 0) return null;
  return {
    cpuSeconds: interval(obs.cpuSeconds, level),
    peakMemoryMb: interval(obs.peakMemoryMb, level),
    storageBytes: interval(obs.storageBytes, level),
    networkBytes: interval(obs.networkBytes, level),
    durationMs: interval(obs.durationMs, level),
  };
}

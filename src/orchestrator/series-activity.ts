import type { EnvironmentSpec } from "../core/types.js";
import { minuteOf } from "../history/store.js";

/** What the last task of a series looked like: the template for its shadow environments. */
export interface SeriesActivity {
  user: string;
  taskType: string;
  spec: EnvironmentSpec;
  modulePath: string;
  lastArrival: number;
}

/** Minutes of per-series arrival counts kept for scoring forecasts. */
const KEEP_MINUTES = 5;

/**
 * Per series, the latest arrival (its spec and module, for shadows) and arrival counts of the last
 * few minutes (to score the forecasts of those minutes). In memory: after a restart it refills as
 * tasks arrive.
 */
export class SeriesActivityLog {
  private readonly latest = new Map<string, SeriesActivity>();
  private readonly counts = new Map<number, Map<string, number>>();
  /** minute → series → environments its tasks were routed to in that minute. */
  private readonly envs = new Map<number, Map<string, Set<string>>>();

  record(series: string, activity: SeriesActivity): void {
    this.latest.set(series, activity);
    const minute = minuteOf(activity.lastArrival);
    const m = this.counts.get(minute) ?? new Map<string, number>();
    m.set(series, (m.get(series) ?? 0) + 1);
    this.counts.set(minute, m);
    for (const k of this.counts.keys()) if (k < minute - KEEP_MINUTES) this.counts.delete(k);
  }

  /** A task of `series` went to environment `envId` at `at` (warm, grown or cold). */
  used(series: string, at: number, envId: string): void {
    const minute = minuteOf(at);
    let m = this.envs.get(minute);
    if (!m) {
      m = new Map();
      this.envs.set(minute, m);
      for (const k of this.envs.keys()) if (k < minute - KEEP_MINUTES) this.envs.delete(k);
    }
    const s = m.get(series) ?? new Set<string>();
    s.add(envId);
    m.set(series, s);
  }

  /** Environments the series' tasks used in `minute`: its concurrency then (0 if none were routed). */
  environmentsUsed(series: string, minute: number): number {
    return this.envs.get(minute)?.get(series)?.size ?? 0;
  }

  all(): ReadonlyMap<string, SeriesActivity> {
    return this.latest;
  }

  arrivalsIn(minute: number): ReadonlyMap<string, number> {
    return this.counts.get(minute) ?? new Map();
  }
}

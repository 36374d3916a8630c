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
  /** minute → series → most of its tasks routed in that minute that ran at once. */
  private readonly peaks = new Map<number, Map<string, number>>();

  record(series: string, activity: SeriesActivity): void {
    this.latest.set(series, activity);
    const minute = minuteOf(activity.lastArrival);
    const m = this.counts.get(minute) ?? new Map<string, number>();
    m.set(series, (m.get(series) ?? 0) + 1);
    this.counts.set(minute, m);
    for (const k of this.counts.keys()) if (k < minute - KEEP_MINUTES) this.counts.delete(k);
  }

  /**
   * A task of `series` routed at `routedAt` started running with `running` of the series' tasks
   * (itself included) running. Counted from the start of execution, not routing: the environments
   * a cold start's cascade brings up are not concurrency the series needs.
   */
  running(series: string, routedAt: number, running: number): void {
    const minute = minuteOf(routedAt);
    let m = this.peaks.get(minute);
    if (!m) {
      m = new Map();
      this.peaks.set(minute, m);
      for (const k of this.peaks.keys()) if (k < minute - KEEP_MINUTES) this.peaks.delete(k);
    }
    m.set(series, Math.max(m.get(series) ?? 0, running));
  }

  /** Most tasks of the series routed in `minute` that ran at once (0 if none has started yet). */
  peakConcurrency(series: string, minute: number): number {
    return this.peaks.get(minute)?.get(series) ?? 0;
  }

  all(): ReadonlyMap<string, SeriesActivity> {
    return this.latest;
  }

  arrivalsIn(minute: number): ReadonlyMap<string, number> {
    return this.counts.get(minute) ?? new Map();
  }
}

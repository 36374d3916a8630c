import { upperBound } from "../core/sorted.js";
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

/** One task's run, for a series' concurrency. */
export interface TaskSpan {
  routedAt: number;
  startedAt: number;
  finishedAt: number | null;
}

/** Minutes of per-series arrival counts kept for scoring forecasts. */
const KEEP_MINUTES = 5;

/**
 * Per series, the latest arrival (its spec and module, for shadows), arrival counts of the last
 * few minutes (to score the forecasts of those minutes) and the runs of their tasks (concurrency). In memory: after a restart it refills as
 * tasks arrive.
 */
export class SeriesActivityLog {
  private readonly latest = new Map<string, SeriesActivity>();
  private readonly counts = new Map<number, Map<string, number>>();
  /** minute → series → the tasks routed in that minute that have started running. */
  private readonly spans = new Map<number, Map<string, TaskSpan[]>>();

  record(series: string, activity: SeriesActivity): void {
    this.latest.set(series, activity);
    const minute = minuteOf(activity.lastArrival);
    const m = this.counts.get(minute) ?? new Map<string, number>();
    m.set(series, (m.get(series) ?? 0) + 1);
    this.counts.set(minute, m);
    for (const k of this.counts.keys()) if (k < minute - KEEP_MINUTES) this.counts.delete(k);
  }

  /** A task of `series` routed at `routedAt` started running at `startedAt`; finish it with `finished`. */
  started(series: string, routedAt: number, startedAt: number): TaskSpan {
    const minute = minuteOf(routedAt);
    let m = this.spans.get(minute);
    if (!m) {
      m = new Map();
      this.spans.set(minute, m);
      for (const k of this.spans.keys()) if (k < minute - KEEP_MINUTES) this.spans.delete(k);
    }
    const span: TaskSpan = { routedAt, startedAt, finishedAt: null };
    const list = m.get(series);
    if (list) list.push(span);
    else m.set(series, [span]);
    return span;
  }

  finished(span: TaskSpan, at: number): void {
    span.finishedAt = at;
  }

  /**
   * The most tasks of the series that would have run at once, seen from each arrival (routing) in
   * `minute`, had every one started warm: each task counts over [routedAt, routedAt + its run time),
   * a task still running up to `now`, with the tasks routed in the minute before. Not the
   * environments used: while one cold start takes seconds every arrival starts another, and that
   * cascade is not concurrency the series needs; nor the overlap of executions, which a cold start
   * delays past the others. 0 if none of the minute's tasks has started yet.
   */
  peakConcurrency(series: string, minute: number, now: number): number {
    const mine = this.spans.get(minute)?.get(series);
    if (!mine) return 0;
    const all = [...(this.spans.get(minute - 1)?.get(series) ?? []), ...mine];
    const from = all.map((s) => s.routedAt).sort((a, b) => a - b);
    const until = all
      .map((s) => s.routedAt + Math.max(0, (s.finishedAt ?? now) - s.startedAt))
      .sort((a, b) => a - b);
    let peak = 1;
    for (const s of mine) peak = Math.max(peak, upperBound(from, s.routedAt) - upperBound(until, s.routedAt));
    return peak;
  }

  all(): ReadonlyMap<string, SeriesActivity> {
    return this.latest;
  }

  arrivalsIn(minute: number): ReadonlyMap<string, number> {
    return this.counts.get(minute) ?? new Map();
  }
}

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
interface TaskSpan {
  routedAt: number;
  /** null until the environment is ready (a cold start) — or for good if it never ran. */
  startedAt: number | null;
  finishedAt: number | null;
  /** The resource estimator's expected run time (ms) when it was routed; 0 = none. */
  expectedMs: number;
}

/** Minutes of per-series arrival counts kept for scoring forecasts. */
const KEEP_MINUTES = 5;

/**
 * Per series, the latest arrival (its spec and module, for shadows), arrival counts of the last few
 * minutes (to score the forecasts of those minutes) and the runs of their tasks (concurrency). In
 * memory: after a restart it refills as tasks arrive.
 */
export class SeriesActivityLog {
  private readonly latest = new Map<string, SeriesActivity>();
  private readonly counts = new Map<number, Map<string, number>>();
  /** minute → series → the tasks routed in that minute. */
  private readonly spans = new Map<number, Map<string, TaskSpan[]>>();
  /** Tasks routed and not finished, by id. */
  private readonly open = new Map<string, TaskSpan>();

  record(series: string, activity: SeriesActivity): void {
    this.latest.set(series, activity);
    const minute = minuteOf(activity.lastArrival);
    const m = this.counts.get(minute) ?? new Map<string, number>();
    m.set(series, (m.get(series) ?? 0) + 1);
    this.counts.set(minute, m);
    for (const k of this.counts.keys()) if (k < minute - KEEP_MINUTES) this.counts.delete(k);
  }

  /**
   * A task of `series` got an environment (warm or cold) at `routedAt`; `expectedMs` is its expected
   * run time (the resource estimator's), used while the series has no run time of its own.
   */
  routed(series: string, taskId: string, routedAt: number, expectedMs = 0): void {
    const minute = minuteOf(routedAt);
    let m = this.spans.get(minute);
    if (!m) {
      m = new Map();
      this.spans.set(minute, m);
      for (const k of this.spans.keys()) if (k < minute - KEEP_MINUTES) this.spans.delete(k);
    }
    const span: TaskSpan = {
      routedAt,
      startedAt: null,
      finishedAt: null,
      expectedMs: Math.max(0, expectedMs),
    };
    const list = m.get(series);
    if (list) list.push(span);
    else m.set(series, [span]);
    this.open.set(taskId, span);
  }

  /** The task began running (its environment ready). */
  started(taskId: string, at: number): void {
    const span = this.open.get(taskId);
    if (span) span.startedAt = at;
  }

  /** The task's routing came to nothing (its environment was gone) and it waits again: it never ran. */
  unrouted(taskId: string): void {
    const span = this.open.get(taskId);
    if (!span) return;
    this.open.delete(taskId);
    const bySeries = this.spans.get(minuteOf(span.routedAt));
    for (const [series, list] of bySeries ?? []) {
      const i = list.indexOf(span);
      if (i >= 0) {
        list.splice(i, 1);
        // No empty lists: peakConcurrency takes a listed series as routed in the minute.
        if (list.length === 0) bySeries!.delete(series);
        return;
      }
    }
  }

  /** The task reached its final state (run or not). */
  finished(taskId: string, at: number): void {
    const span = this.open.get(taskId);
    if (!span) return;
    span.finishedAt = at;
    this.open.delete(taskId);
  }

  /**
   * The most tasks of the series that would have run at once had every one started warm, seen from
   * each of its arrivals (routings) in `minute`: each task counts over [routedAt, routedAt + its run
   * time), over the last few minutes. A task still running counts up to `now`; one still starting (a
   * cold start) counts with the series' median run time so far — or, in a series none of whose recent
   * tasks has run yet (a new series whose first cold starts outlast the minute), with its expected
   * run time. Not the environments used: while one cold start takes seconds every arrival starts
   * another, and that cascade is not concurrency the series needs; nor the overlap of executions,
   * which a cold start delays past the others (the history store's per-minute peakConcurrency, which
   * forecasts read, is that overlap). 0 if no task was routed in the minute.
   */
  peakConcurrency(series: string, minute: number, now: number): number {
    const mine = this.spans.get(minute)?.get(series);
    if (!mine || mine.length === 0) return 0;
    const all: TaskSpan[] = [];
    for (let k = minute - KEEP_MINUTES; k <= minute; k++) all.push(...(this.spans.get(k)?.get(series) ?? []));
    const runs = all
      .filter((s) => s.startedAt !== null && s.finishedAt !== null)
      .map((s) => s.finishedAt! - s.startedAt!)
      .sort((a, b) => a - b);
    const typical = runs.length > 0 ? runs[runs.length >> 1]! : null;
    const runOf = (s: TaskSpan): number => {
      // Starting (at the series' median, else the estimate), or never ran.
      if (s.startedAt === null) return s.finishedAt === null ? (typical ?? s.expectedMs) : 0;
      return Math.max(0, (s.finishedAt ?? now) - s.startedAt);
    };
    const first = mine[0]!.routedAt;
    // Tasks over before the minute's first arrival count for none of its arrivals.
    const live = all.filter((s) => s.routedAt >= first || s.routedAt + runOf(s) > first);
    const from = live.map((s) => s.routedAt).sort((a, b) => a - b);
    const until = live.map((s) => s.routedAt + runOf(s)).sort((a, b) => a - b);
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

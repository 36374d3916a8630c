import type { MinuteTrace } from "../sim/trace.js";
import type { SeriesHistory } from "./forecaster.js";

/** One app of a loaded trace, turned into dense minute histories on demand (memory: one at a time). */
export interface TraceSeries {
  key: string;
  /** Index of the app in the trace. */
  app: number;
  firstBusyMinute: number;
  lastBusyMinute: number;
  /** Dense history from `fromMinute` through `untilMinute` − 1. */
  history(fromMinute: number, untilMinute: number): SeriesHistory;
}

/**
 * Per-app series of a minute trace. The trace's apps are the units of loading (Azure HashApp, or
 * user/job for Google); the seam wants (user, task type), so an app name "user/type" is split at its
 * first "/" and a name without one is its own user with task type "app".
 */
export function traceSeries(trace: MinuteTrace): TraceSeries[] {
  const out: TraceSeries[] = [];
  for (let a = 0; a < trace.appNames.length; a++) {
    const lo = trace.appOffset[a]!;
    const hi = trace.appOffset[a + 1]!;
    if (hi <= lo) continue;
    const name = trace.appNames[a]!;
    const slash = name.indexOf("/");
    const user = slash > 0 ? name.slice(0, slash) : name;
    const taskType = slash > 0 ? name.slice(slash + 1) : "app";
    out.push({
      key: name,
      app: a,
      firstBusyMinute: trace.busyMinute[lo]!,
      lastBusyMinute: trace.busyMinute[hi - 1]!,
      history(fromMinute, untilMinute) {
        const arrivals = new Float64Array(Math.max(0, untilMinute - fromMinute));
        for (let i = lo; i < hi; i++) {
          const m = trace.busyMinute[i]!;
          if (m >= untilMinute) break;
          if (m >= fromMinute) arrivals[m - fromMinute] = trace.busyCount[i]!;
        }
        return { user, taskType, startMinute: fromMinute, arrivals };
      },
    });
  }
  return out;
}

/** The history up to (excluding) `untilMinute`, sharing the buffer when it is typed. */
export function truncateHistory(h: SeriesHistory, untilMinute: number): SeriesHistory {
  const n = Math.max(0, Math.min(h.arrivals.length, untilMinute - h.startMinute));
  const cut = (a: ArrayLike<number>): ArrayLike<number> =>
    a instanceof Float64Array ? a.subarray(0, n) : Float64Array.from({ length: n }, (_, i) => a[i]!);
  return {
    ...h,
    arrivals: cut(h.arrivals),
    ...(h.concurrency ? { concurrency: cut(h.concurrency) } : {}),
  };
}

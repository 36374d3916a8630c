import { pairName } from "../core/app-name.js";
import { type MinuteRollup, seriesRuns } from "../history/store.js";
import type { TraceSeries } from "./series.js";

/**
 * The (user, task type) series of the history store's per-minute rollups, in the shape the backtest
 * reads from traces, so `forewarm forecast --history` scores the models on what the server recorded.
 */
export function storeSeries(rows: readonly MinuteRollup[]): TraceSeries[] {
  const out: TraceSeries[] = [];
  for (const run of seriesRuns(rows)) {
    const busy = run.filter((r) => r.arrivals > 0);
    if (busy.length > 0) {
      const { user, taskType } = run[0]!;
      out.push({
        key: pairName(user, taskType),
        app: out.length,
        firstBusyMinute: busy[0]!.minute,
        lastBusyMinute: busy[busy.length - 1]!.minute,
        history(fromMinute, untilMinute) {
          const arrivals = new Float64Array(Math.max(0, untilMinute - fromMinute));
          const concurrency = new Float64Array(arrivals.length);
          for (const r of busy) {
            if (r.minute < fromMinute || r.minute >= untilMinute) continue;
            arrivals[r.minute - fromMinute] = r.arrivals;
            concurrency[r.minute - fromMinute] = r.peakConcurrency;
          }
          return { user, taskType, startMinute: fromMinute, arrivals, concurrency };
        },
      });
    }
  }
  return out;
}

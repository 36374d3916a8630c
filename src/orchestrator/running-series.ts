import type { HistoryStore } from "../history/store.js";
import { minuteOf } from "../history/store.js";
import { seriesKey } from "../plan/shadow-planner.js";

/**
 * How many tasks of each series run now. The orchestrator records a series' concurrency in the
 * minute each task arrived when it starts; this records it again, for every series still running,
 * in each minute that begins (a long burst spans minutes).
 */
export class RunningSeries {
  private readonly counts = new Map<string, { user: string; taskType: string; n: number }>();
  private minute = -1;

  /** A task of the series starts: how many of it run now, itself included. */
  started(user: string, taskType: string): number {
    const key = seriesKey(user, taskType);
    const c = this.counts.get(key) ?? { user, taskType, n: 0 };
    c.n++;
    this.counts.set(key, c);
    return c.n;
  }

  ended(user: string, taskType: string): void {
    const key = seriesKey(user, taskType);
    const c = this.counts.get(key);
    if (c && --c.n <= 0) this.counts.delete(key);
  }

  /** False within the minute seen last; else the series running now are recorded in the new minute. */
  newMinute(now: number, store: HistoryStore): boolean {
    const minute = minuteOf(now);
    if (minute === this.minute) return false;
    this.minute = minute;
    for (const c of this.counts.values())
      store.recordConcurrency(c.user, c.taskType, minute, c.n).catch(() => {});
    return true;
  }
}

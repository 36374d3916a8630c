/**
 * The history a forewarm learner relearns at start (live-series-windows.ts): the per-minute rollups of
 * the history store fed to the learner in replay's order, a few minutes at a time, yielding to the
 * event loop, so that a restart reaches the decisions replay makes on the same arrivals.
 */
import { yieldToEventLoop } from "../core/clock.js";
import { type HistoryStore, minuteOf, nextRollupSpan } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import type { BusySeries, SeriesWindows } from "../plan/series-windows.js";
import { seriesKey } from "../plan/shadow-planner.js";

/** Busy series-minutes relearned between yields to the event loop (~20 ms of work). */
const RELEARN_SLICE = 2_000;
/** Rollup rows a relearn aims to read at a time (the span of minutes adapts to reach it). */
const RELEARN_ROWS = 20_000;
/** How often a long relearn logs its progress. */
const PROGRESS_EVERY_MS = 5_000;

export interface RelearnContext {
  store: HistoryStore;
  log: Logger;
  /** Memory of a series whose rollups do not say what its arrivals were routed for. */
  defaultMemoryMb: number;
  clock: () => number;
  /** False once a newer rebuild superseded this one (checked after every read and yield). */
  current: () => boolean;
  /**
   * The last minute whose arrivals are all in the history (a later one may still be recording tasks):
   * a relearn stops before it, and the live path takes that minute when its tasks are in.
   */
  settledUpTo?: () => number;
}

/**
 * Feeds the busy minutes `from` … `until` (and those that end meanwhile) into `windows`: the last minute
 * learnt and the busy series-minutes, or null when superseded.
 */
export async function relearnHistory(
  windows: SeriesWindows,
  from: number,
  until: number,
  c: RelearnContext,
): Promise<{ upto: number; learnt: number } | null> {
  const started = performance.now();
  const settled = (minute: number) => Math.min(minute, c.settledUpTo?.() ?? Number.POSITIVE_INFINITY);
  let upto = settled(until);
  // Replay's order: within a minute, series by first appearance — their first busy minute, then
  // their first arrival in it (as live numbers them); by name only where the store has no arrival
  // time (minutes recorded before it kept one). Chunks come in ascending minutes, so a series'
  // first appearance is known by the time it is sorted.
  const first = new Map<string, Appearance>();
  let learnt = 0;
  let sinceYield = 0;
  let lastReport = started;
  // Rollups a few minutes at a time (about RELEARN_ROWS rows a read): the whole window of a large
  // deployment would neither fit in memory nor be read without holding the event loop.
  let chunk = 60;
  let lo = from;
  for (;;) {
    if (lo > upto) {
      // Minutes that ended while relearning: read them too (the live path looks back only a few).
      const latest = settled(minuteOf(c.clock()) - 1);
      if (latest <= upto) break;
      upto = latest;
      continue;
    }
    const hi = Math.min(upto, lo + chunk - 1);
    const read = await c.store.rollups({ fromMinute: lo, toMinute: hi });
    if (!c.current()) return null;
    // Each row is the busy series it reports, with its series' appearance (one object per series,
    // moved earlier in place if a row of the chunk is earlier still) to sort by.
    const rows: RelearnRow[] = [];
    for (const r of read) {
      if (!(r.arrivals > 0)) continue;
      const series = seriesKey(r.user, r.taskType);
      const at = r.firstArrivalMs ?? Number.POSITIVE_INFINITY;
      let f = first.get(series);
      if (!f) {
        f = { minute: r.minute, at };
        first.set(series, f);
      } else if (r.minute < f.minute) {
        f.minute = r.minute;
        f.at = at;
      }
      rows.push({
        minute: r.minute,
        first: f,
        series,
        user: r.user,
        // The memory its arrivals were routed for, as live prices it (the default where unknown).
        memoryMb: r.memoryMb ?? c.defaultMemoryMb,
        arrivals: r.arrivals,
        // Its concurrency as the store has it (executions that overlapped; live counts tasks as if
        // all had started warm): what the windows' staffing starts from. 0 = not recorded.
        ...(r.peakConcurrency > 0 ? { environments: r.peakConcurrency } : {}),
      });
    }
    rows.sort(byMinuteThenAppearance);
    let i = 0;
    while (i < rows.length) {
      const minute = rows[i]!.minute;
      let j = i;
      while (j < rows.length && rows[j]!.minute === minute) j++;
      const batch = rows.slice(i, j);
      i = j;
      windows.learnMinute(minute, batch);
      learnt += batch.length;
      // ~9–14 µs a busy series-minute: a large history would hold the event loop (and every
      // request) for minutes. Yield every RELEARN_SLICE rows; say how far it got every few seconds.
      sinceYield += batch.length;
      if (sinceYield >= RELEARN_SLICE) {
        sinceYield = 0;
        await yieldToEventLoop();
        // Superseded by a later rebuild (planning restarted meanwhile): that one relearns.
        if (!c.current()) return null;
        if (performance.now() - lastReport > PROGRESS_EVERY_MS) {
          lastReport = performance.now();
          c.log.info(
            { event: "windows_relearning", busyMinutes: learnt, minute, of: [from, upto] },
            `relearning the history window: ${Math.round((100 * (minute - from)) / Math.max(1, upto - from))} % of its minutes`,
          );
        }
      }
    }
    lo = hi + 1;
    chunk = nextRollupSpan(chunk, rows.length, RELEARN_ROWS);
  }
  return { upto, learnt };
}

/** A series' first appearance: its first busy minute and its first arrival in it (ms; ∞ unknown). */
interface Appearance {
  minute: number;
  at: number;
}

/** A rollup row of a relearn: the busy series it reports, and its minute and series' appearance. */
interface RelearnRow extends BusySeries {
  minute: number;
  first: Appearance;
}

function byMinuteThenAppearance(a: RelearnRow, b: RelearnRow): number {
  const fa = a.first;
  const fb = b.first;
  return (
    a.minute - b.minute ||
    fa.minute - fb.minute ||
    (fa.at === fb.at ? 0 : fa.at < fb.at ? -1 : 1) ||
    (a.series < b.series ? -1 : a.series > b.series ? 1 : 0)
  );
}

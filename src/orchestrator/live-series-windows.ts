import type { Config } from "../config/config.js";
import { yieldToEventLoop } from "../core/clock.js";
import type { HistoryStore } from "../history/store.js";
import { minuteOf } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { type SeriesWindow, SeriesWindows } from "../plan/series-windows.js";
import { relearnHistory } from "./history-relearn.js";
import type { SeriesActivity } from "./series-activity.js";

/** What the windows read of the live system: recent per-series activity (the Orchestrator has it). */
export interface RecentActivity {
  seriesActivity(): ReadonlyMap<string, SeriesActivity>;
  arrivalCounts(minute: number): ReadonlyMap<string, number>;
  /** The earliest minute with tasks not in arrivalCounts (nor the history) yet, or null. */
  oldestMinuteBeingAccepted(): number | null;
  peakConcurrency(series: string, minute: number): number;
}

/** Window decisions kept for /v1/decisions. */
const MAX_DECISIONS = 10_000;
/** Wait before retrying a whole-window relearn that failed after a start's quick pass. */
const WHOLE_RETRY_MS = 60_000;
/** Least time between relearns that free the learner of quiet series (maxSeries full). */
const RECYCLE_EVERY_MINUTES = 60;

/**
 * The edge around the pure SeriesWindows learner on the live server: it reports each minute, once
 * over, with the series that were busy in it (arrival order), relearns the history window at start,
 * and keeps the latest decisions for /v1/decisions and the logs.
 */
export class LiveSeriesWindows {
  private windows: SeriesWindows;
  /** Next minute the learner has not been told about (null: still relearning the history). */
  private next: number | null = null;
  /** The latest decisions, oldest first (bounded). */
  readonly decisions: SeriesWindow[] = [];
  /** Told of every live decision with the price in force (metrics). */
  onDecision: ((w: SeriesWindow, price: number) => void) | null = null;

  constructor(
    private readonly p: Config["prediction"],
    private readonly orchestrator: RecentActivity,
    private readonly store: HistoryStore,
    private readonly log: Logger,
    private readonly defaultMemoryMb: number,
  ) {
    this.windows = this.freshWindows();
  }

  /** A new learner, at `price` (the configured one unless given: a refresh keeps the one in force). */
  private freshWindows(price = this.p.forewarm.price): SeriesWindows {
    const fw = this.p.forewarm;
    return new SeriesWindows({
      price,
      memRefMb: fw.memRefMb,
      maxSeries: fw.maxSeries,
      learner: fw.learner,
      calibration: {
        budgetPct: fw.budgetPct,
        targetColdPct: fw.targetColdPct,
        after: fw.calibrateAfterMinutes,
        maxInterval: fw.calibrationMaxIntervalMinutes,
        maxEntries: fw.calibrationEntries,
        // A re-fit replays up to calibrationEntries minutes ~16 times: never in one event-loop turn.
        deferred: true,
      },
    });
  }

  /** The history has been relearned: windows are decided live. */
  get ready(): boolean {
    return this.next !== null;
  }

  /** Each series' latest decision (none while the history is being relearned). */
  latest(): Iterable<SeriesWindow> {
    return this.next === null ? [] : this.windows.windows();
  }

  /**
   * Relearns the busy minutes of the rolling window from the history store — minutes ascending,
   * within a minute series in order of first appearance, as replay orders apps — so a restart does
   * not forget every series' gaps. Minutes are reported live only after this. With `keepServing`
   * (freeing quiet series) the current learner goes on deciding until the new one has caught up
   * with the clock, and is then replaced by it.
   */
  async rebuild(now: number, clock: () => number = () => now, keepServing = false): Promise<void> {
    // A fresh learner each time: a server that plans again relearns what happened while it did not
    // (its old learner has later minutes than the history window's first, and minutes must ascend).
    // A refresh relearns at the price in force (maybe calibrated): its windows are served as they are.
    const fresh = this.freshWindows(keepServing ? this.windows.price : undefined);
    if (!keepServing) {
      this.next = null;
      this.windows = fresh;
      this.overflowWarnedAt = 0;
      // What the old learner refused says nothing about the new one.
      this.overflowSeen = 0;
      this.refreshedAt = Number.NEGATIVE_INFINITY;
      this.wholeOwed = false;
    }
    const generation = ++this.generation;
    // A start with a long history plans first from its last quickRelearnMinutes (a few seconds where
    // the whole window takes minutes), then relearns the whole of it in the background.
    const quick = this.p.forewarm.quickRelearnMinutes;
    const minutes = !keepServing && quick > 0 && quick < this.p.windowMinutes ? quick : this.p.windowMinutes;
    try {
      const upto = await this.relearn(fresh, now, generation, clock, minutes);
      // Superseded (or cancelled) after the relearn's last check: the newer call decides.
      if (upto === null || generation !== this.generation) return;
      if (keepServing) {
        this.windows = fresh;
        this.overflowWarnedAt = 0;
        this.overflowSeen = 0;
        this.wholeOwed = false;
      }
      this.next = upto + 1;
      // (An older background relearn, if any, was superseded by this rebuild's generation.)
      if (minutes < this.p.windowMinutes) {
        this.wholeOwed = true;
        this.startRefresh(clock(), clock);
      }
    } catch (err) {
      if (generation !== this.generation) return;
      if (keepServing) {
        // After a quick pass the whole window is still owed: a planning cycle retries it (a store
        // that failed once would otherwise leave the one-day learner in place until the next start).
        if (this.wholeOwed) this.wholeRetryAt = clock() + WHOLE_RETRY_MS;
        this.log.warn(
          { event: "windows_refresh_failed", err, ...(this.wholeOwed ? { retryInMs: WHOLE_RETRY_MS } : {}) },
          this.wholeOwed
            ? "could not relearn the whole history window; the quick pass's windows go on, retrying"
            : "could not relearn; the current windows go on",
        );
        return;
      }
      // Without its history the learner starts from the pooled priors alone: worse, not broken.
      this.next = minuteOf(now);
      this.log.warn({ event: "windows_rebuild_failed", err }, "could not relearn the history window");
    }
  }

  /**
   * A whole-window relearn in the background while the current windows go on (or null): after a
   * start's quick pass, or to free the learner of quiet series.
   */
  refreshing: Promise<void> | null = null;
  /** The quick pass is serving and the whole window has not been relearnt yet. */
  private wholeOwed = false;
  /** When a failed whole-window relearn after a quick pass is retried (ms). */
  private wholeRetryAt = Number.POSITIVE_INFINITY;
  /** `overflow` when the learner last looked for series to free, and the minute it relearned for that. */
  private overflowSeen = 0;
  private refreshedAt = Number.NEGATIVE_INFINITY;

  /**
   * maxSeries is full and new series are refused: if the learner holds series quiet for longer than
   * the history window — a restart would not relearn them — relearn the window in the background
   * and swap the learner in when it has caught up. Without this a long-running server that has seen
   * maxSeries series in its life leaves every new one reactive until it restarts.
   */
  private recycleQuietSeries(now: number, clock: () => number): void {
    const w = this.windows;
    if (w.overflow <= this.overflowSeen || this.refreshing) return;
    this.overflowSeen = w.overflow;
    const current = minuteOf(now);
    if (current - this.refreshedAt < RECYCLE_EVERY_MINUTES) return;
    // Looked (a scan of every series): not again within the hour, whether or not any was quiet.
    this.refreshedAt = current;
    const quiet = w.quietSeries(this.firstMinute(now));
    if (quiet === 0) return;
    this.log.info(
      { event: "windows_recycling", maxSeries: this.p.forewarm.maxSeries, quietSeries: quiet },
      "forewarm windows are full: relearning the history window to drop series quiet for longer than it",
    );
    this.startRefresh(now, clock);
  }

  /** Relearns the whole history window in the background; the current windows go on meanwhile. */
  private startRefresh(now: number, clock: () => number): void {
    const refresh: Promise<void> = this.rebuild(now, clock, true).finally(() => {
      if (this.refreshing === refresh) this.refreshing = null;
    });
    this.refreshing = refresh;
  }

  /** The first minute a relearn at `now` of `minutes` reads (it reads up to the minute before now's). */
  private firstMinute(now: number, minutes = this.p.windowMinutes): number {
    return minuteOf(now) - 1 - minutes;
  }

  /** Stops a relearn in progress (planning stopped): the windows stay empty until the next rebuild. */
  cancel(): void {
    this.generation++;
    this.next = null;
  }

  /** Relearns the history window into `windows`; the last minute learnt, or null when superseded. */
  private async relearn(
    windows: SeriesWindows,
    now: number,
    generation: number,
    clock: () => number,
    minutes: number,
  ): Promise<number | null> {
    const started = performance.now();
    const read = await relearnHistory(windows, this.firstMinute(now, minutes), minuteOf(now) - 1, {
      store: this.store,
      log: this.log,
      defaultMemoryMb: this.defaultMemoryMb,
      clock,
      current: () => generation === this.generation,
      settledUpTo: () => {
        const accepting = this.orchestrator.oldestMinuteBeingAccepted();
        return accepting === null ? Number.POSITIVE_INFINITY : accepting - 1;
      },
    });
    if (read === null) return null;
    const { upto, learnt } = read;
    // The windows already over are dropped unbuilt, the rest built here, in the relearn's time and
    // in its order, not in the first plan's.
    windows.forgetEnded(clock() - this.p.graceMs - 60_000);
    windows.buildLatest();
    this.log.info(
      {
        event: "windows_rebuilt",
        series: windows.seriesCount,
        busyMinutes: learnt,
        minutes,
        durationMs: Math.round(performance.now() - started),
      },
      minutes < this.p.windowMinutes
        ? `forewarm window learner relearned the last ${minutes} minutes; the whole history window follows in the background`
        : "forewarm window learner relearned the history window",
    );
    return upto;
  }

  /** Bumped by every rebuild: a relearn that finds it changed stops (a newer one runs). */
  private generation = 0;

  /** Tells the learner about every minute that has ended since the last call. */
  observeEndedMinutes(now: number, clock: () => number = () => now): void {
    if (this.next === null) return;
    if (this.wholeOwed && !this.refreshing && now >= this.wholeRetryAt) {
      this.wholeRetryAt = Number.POSITIVE_INFINITY;
      this.startRefresh(now, clock);
    }
    const current = minuteOf(now);
    // Windows over (with grace) are dropped once a minute, so a cycle's cost follows live windows.
    if (current > this.next) this.windows.forgetEnded(now - this.p.graceMs - 60_000);
    const activity = this.orchestrator.seriesActivity();
    // Arrival counts are kept for the last few minutes only; a stalled loop skips what it lost.
    let waiting = false;
    const accepting = this.orchestrator.oldestMinuteBeingAccepted();
    for (let m = Math.max(this.next, current - 4); m < current; m++) {
      // A task of m still being accepted (its analysis or its record took it past the minute's end):
      // decide m once it counts. (A stall beyond the arrival counts kept is skipped, as above.)
      if (accepting !== null && m >= accepting) {
        this.next = m;
        waiting = true;
        break;
      }
      const busy = [...this.orchestrator.arrivalCounts(m)].flatMap(([series, arrivals]) => {
        const a = activity.get(series);
        if (!a) return [];
        // At least the one environment its arrivals need (as replay counts a busy minute), also when
        // they were routed in a later minute (routing counts concurrency by its own minute).
        const environments = Math.max(1, this.orchestrator.peakConcurrency(series, m));
        return [{ series, user: a.user, memoryMb: a.spec.resources.memoryMb, environments, arrivals }];
      });
      // Advance first: a minute that throws is skipped, not retried (and refused) every cycle after.
      this.next = m + 1;
      if (busy.length === 0) continue;
      for (const w of this.windows.observeMinute(m, busy)) {
        this.decisions.push(w);
        try {
          this.onDecision?.(w, this.windows.price);
        } catch (err) {
          this.log.warn({ event: "decision_observer_failed", err }, "a decision observer threw");
        }
        this.log.debug({ event: "window_decision", ...w }, "forewarm window decided");
      }
      this.warnOverflow();
      if (this.decisions.length > MAX_DECISIONS)
        this.decisions.splice(0, this.decisions.length - MAX_DECISIONS);
    }
    if (!waiting) this.next = Math.max(this.next, current);
    if (this.windows.calibrationDue && !this.calibrating) this.calibrate();
    this.recycleQuietSeries(now, clock);
  }

  private overflowWarnedAt = 0;

  /** Says so (at 1, 2, 4, … refused busy minutes) when series stay reactive because maxSeries is full. */
  private warnOverflow(): void {
    const n = this.windows.overflow;
    if (n === 0 || n < 2 * this.overflowWarnedAt) return;
    this.overflowWarnedAt = Math.max(1, n);
    this.log.warn(
      { event: "windows_series_full", maxSeries: this.p.forewarm.maxSeries, refusedBusyMinutes: n },
      "forewarm windows track maxSeries series already: new series stay reactive (raise prediction.forewarm.maxSeries; series quiet for longer than the history window are freed by a relearn, at most hourly)",
    );
  }

  /** Re-fits the price in the background, one candidate price per event-loop turn. */
  private calibrate(): void {
    const started = performance.now();
    const windows = this.windows;
    this.calibrating = windows
      .calibrateDue(yieldToEventLoop)
      .then((price) => {
        if (price === null) return;
        // Swapped meanwhile (a refresh): the price fitted on the recent past holds for the new learner.
        if (windows !== this.windows) this.windows.price = price;
        this.log.info(
          { event: "price_calibrated", price, durationMs: Math.round(performance.now() - started) },
          "forewarm price re-fitted to the budget/target on the recent past",
        );
      })
      .catch((err: unknown) =>
        this.log.warn({ event: "price_calibration_failed", err }, "price not re-fitted"),
      )
      .finally(() => {
        this.calibrating = null;
      });
  }

  /** The re-fit in progress, if any (tests and shutdown may wait for it). */
  calibrating: Promise<void> | null = null;

  /** Series busy in the current minute, with their concurrency in it so far. */
  busyNow(now: number): Map<string, number> {
    const m = minuteOf(now);
    const out = new Map<string, number>();
    for (const series of this.orchestrator.arrivalCounts(m).keys())
      out.set(series, Math.max(1, this.orchestrator.peakConcurrency(series, m)));
    return out;
  }

  /** The price in force (configured, or calibrated to the budget/target). */
  get price(): number {
    return this.windows.price;
  }

  /** Series the learner could not take (maxSeries reached): they stay reactive. */
  get overflow(): number {
    return this.windows.overflow;
  }
}

import type { Config } from "../config/config.js";
import { type Clock, yieldToEventLoop } from "../core/clock.js";
import { compareText } from "../core/sorted.js";
import type { FittedModel, Forecast, Forecaster, SeriesHistory } from "../forecast/forecaster.js";
import { createForecaster } from "../forecast/registry.js";
import type { HistoryStore, MinuteRollup } from "../history/store.js";
import { minuteOf, nextRollupSpan, seriesRuns } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { seriesKey } from "../plan/shadow-planner.js";
import type { Orchestrator } from "./orchestrator.js";

export interface RetrainReport {
  at: number;
  durationMs: number;
  series: number;
  fitted: number;
  failed: number;
}

/** What the models report (part of the prediction loop's observer). */
export interface ModelObserver {
  retrained?(report: RetrainReport): void;
  /** Mean absolute error of last minute's expected arrivals per series (tasks per minute). */
  forecastError?(mae: number): void;
}

/** What the models read of the live system: which series are active, and what arrived. */
export type ModelActivity = Pick<Orchestrator, "seriesActivity" | "arrivalCounts">;

/** Rollup rows a retrain reads at a time (the span of minutes adapts to reach it), yielding between. */
const RETRAIN_ROWS = 20_000;

/**
 * The rollups of minutes from..to, read a few minutes at a time: a week of busy series is millions of
 * rows, and one read held the event loop for seconds (SQLite reads synchronously) — every tenant's
 * requests waited. Returned in the store's order, by series (user, type, bytewise) then minute, as
 * historiesFromRollups needs: each read is in that order and reads go up in minutes, so each series'
 * rows are gathered in minute order and the series put in order at the end.
 */
export async function windowRollups(
  store: HistoryStore,
  from: number,
  to: number,
  rowsPerRead = RETRAIN_ROWS,
): Promise<MinuteRollup[]> {
  const bySeries = new Map<string, MinuteRollup[]>();
  let chunk = 60;
  for (let lo = from; lo <= to; ) {
    const hi = Math.min(to, lo + chunk - 1);
    const read = await store.rollups({ fromMinute: lo, toMinute: hi });
    let run: MinuteRollup[] | undefined;
    for (const r of read) {
      if (run === undefined || run[0]!.user !== r.user || run[0]!.taskType !== r.taskType) {
        const key = `${r.user}\u0000${r.taskType}`;
        const known = bySeries.get(key);
        run = known ?? [];
        if (known === undefined) bySeries.set(key, run);
      }
      run.push(r);
    }
    lo = hi + 1;
    chunk = nextRollupSpan(chunk, read.length, rowsPerRead);
    await yieldToEventLoop();
  }
  const rows: MinuteRollup[] = [];
  for (const key of [...bySeries.keys()].sort(compareText)) for (const r of bySeries.get(key)!) rows.push(r);
  return rows;
}

/** Builds dense per-series histories from sorted rollup rows. */
export function historiesFromRollups(rows: readonly MinuteRollup[]): SeriesHistory[] {
  const out: SeriesHistory[] = [];
  for (const run of seriesRuns(rows)) {
    const first = run[0]!;
    const start = first.minute;
    const end = run[run.length - 1]!.minute;
    const arrivals = new Float64Array(end - start + 1);
    const concurrency = new Float64Array(end - start + 1);
    for (const r of run) {
      arrivals[r.minute - start] = r.arrivals;
      concurrency[r.minute - start] = r.peakConcurrency;
    }
    if (arrivals.some((a) => a > 0)) {
      out.push({ user: first.user, taskType: first.taskType, startMinute: start, arrivals, concurrency });
    }
  }
  return out;
}

/**
 * The live server's per-series forecast models: refitted on a rolling window of per-minute rollups
 * (in slices, yielding between them so the API stays responsive), forecasting each active series, and
 * scoring last minute's forecast. A model that throws or forecasts garbage costs only its own series.
 * In a cluster only the leader retrains (setRetraining); the forewarm windows use the forecasts only
 * to size environments.
 */
export class SeriesModels {
  private models = new Map<string, FittedModel>();
  private readonly forecaster: Forecaster;
  private retrainTimer: NodeJS.Timeout | null = null;
  private retraining: Promise<RetrainReport> | null = null;
  private readonly complained = new Set<string>();
  /** Expected arrivals per series for the minute being forecast, scored once that minute is over. */
  private pendingScore: { minute: number; expected: Map<string, number> } | null = null;
  lastForecastError: number | null = null;
  lastRetrain: RetrainReport | null = null;

  constructor(
    private readonly config: Config,
    private readonly orchestrator: ModelActivity,
    private readonly store: HistoryStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly observer: () => ModelObserver,
    forecaster?: Forecaster,
  ) {
    this.forecaster = forecaster ?? createForecaster(config.prediction.model);
  }

  /**
   * Refits the forecast models (now and every retrainIntervalMs) or stops doing so. The forewarm
   * windows need no models (forecasts only size environments): in a cluster every server plans from
   * its own windows and only the leader retrains.
   */
  setRetraining(on: boolean): void {
    if (on === (this.retrainTimer !== null)) return;
    if (!on) {
      clearInterval(this.retrainTimer!);
      this.retrainTimer = null;
      // Models no longer refitted are dropped: frozen ones would size shadows and report errors for good.
      this.models = new Map();
      this.lastRetrain = null;
      this.pendingScore = null;
      this.lastForecastError = null;
      this.observer().forecastError?.(0);
      return;
    }
    this.retrainTimer = setInterval(
      () => this.retrainInBackground(),
      this.config.prediction.retrainIntervalMs,
    );
    this.retrainTimer.unref();
    this.retrainInBackground();
  }

  /** A retrain from a timer: a failure (e.g. the store gone at shutdown) is logged, never unhandled. */
  private retrainInBackground(): void {
    this.retrain().catch((err: unknown) =>
      this.log.warn({ event: "retrain_failed", err }, "retraining failed; the next interval retries"),
    );
  }

  /** Refits every series seen in the window. Concurrent calls share one run. */
  retrain(): Promise<RetrainReport> {
    this.retraining ??= this.doRetrain().finally(() => {
      this.retraining = null;
    });
    return this.retraining;
  }

  private async doRetrain(): Promise<RetrainReport> {
    const started = Date.now();
    const now = this.clock.now();
    const p = this.config.prediction;
    const rows = await windowRollups(this.store, minuteOf(now) - p.windowMinutes, minuteOf(now));
    const histories = historiesFromRollups(rows);
    const models = new Map<string, FittedModel>();
    let failed = 0;
    for (let i = 0; i < histories.length; i++) {
      const h = histories[i]!;
      const key = seriesKey(h.user, h.taskType);
      try {
        const done = await this.store.listTasks({
          user: h.user,
          taskType: h.taskType,
          status: "succeeded",
          limit: 50,
        });
        h.resources = {
          cpuSeconds: done.map((t) => t.cpuSeconds ?? 0),
          peakMemoryMb: done.map((t) => t.peakMemoryMb ?? 0),
          storageBytes: done.map((t) => t.storageBytesWritten ?? 0),
          networkBytes: done.map((t) => (t.networkInBytes ?? 0) + (t.networkOutBytes ?? 0)),
          durationMs: done.map((t) => (t.finishedAt ?? 0) - (t.startedAt ?? 0)),
        };
        models.set(key, this.forecaster.fit(h));
      } catch (err) {
        failed++;
        this.complain(key, `fit failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if ((i + 1) % p.retrainSliceSize === 0) await yieldToEventLoop();
    }
    const report: RetrainReport = {
      at: now,
      durationMs: Date.now() - started,
      series: histories.length,
      fitted: models.size,
      failed,
    };
    // Retraining was switched off meanwhile (leadership lost): these models are not to be used.
    if (this.retrainTimer === null) return report;
    this.models = models;
    this.complained.clear();
    this.lastRetrain = report;
    this.log.info({ event: "retrained", ...report, model: this.forecaster.name }, "models retrained");
    this.observer().retrained?.(report);
    return report;
  }

  /** Logs once per series (until the next retrain) why the planner skips it. */
  complain(series: string, message: string): void {
    if (this.complained.has(series)) return;
    this.complained.add(series);
    const cut = series.indexOf("|");
    const [user, taskType] = [series.slice(0, cut), series.slice(cut + 1)];
    this.log.warn(
      { event: "forecast_skipped", user, taskType, error: message },
      "series skipped by the planner",
    );
  }

  /** Forecasts every fitted series that is still active. Failures are logged and the series skipped. */
  forecasts(now: number): { forecasts: Forecast[]; skipped: { series: string; reason: string }[] } {
    const p = this.config.prediction;
    const activity = this.orchestrator.seriesActivity();
    const fromMinute = minuteOf(now);
    const forecasts: Forecast[] = [];
    const skipped: { series: string; reason: string }[] = [];
    for (const [key, model] of this.models) {
      const act = activity.get(key);
      const lastArrival = act?.lastArrival;
      if (lastArrival !== undefined && now - lastArrival > p.quietMinutes * 60_000) {
        skipped.push({ series: key, reason: `user quiet for more than ${p.quietMinutes} min` });
        continue;
      }
      try {
        const req = { fromMinute, horizon: p.horizonMinutes, level: p.level };
        const f = model.predict(
          lastArrival === undefined ? req : { ...req, lastArrivalMinute: minuteOf(lastArrival) },
        );
        forecasts.push(f);
      } catch (err) {
        const reason = `forecast failed: ${err instanceof Error ? err.message : String(err)}`;
        this.complain(key, reason);
        skipped.push({ series: key, reason });
      }
    }
    return { forecasts, skipped };
  }

  /** When a minute ends, compares its forecast arrivals with what arrived; starts scoring the new one. */
  scoreLastMinute(now: number, forecasts: readonly Forecast[]): void {
    const minute = minuteOf(now);
    const pending = this.pendingScore;
    if (pending && pending.minute < minute && pending.expected.size > 0) {
      const counts = this.orchestrator.arrivalCounts(pending.minute);
      let err = 0;
      for (const [key, expected] of pending.expected) err += Math.abs(expected - (counts.get(key) ?? 0));
      this.lastForecastError = err / pending.expected.size;
      this.observer().forecastError?.(this.lastForecastError);
    }
    if (!pending || pending.minute !== minute) {
      const expected = new Map<string, number>();
      for (const f of forecasts) {
        const m = f.minutes.find((x) => x.minute === minute);
        if (m) expected.set(seriesKey(f.user, f.taskType), m.arrivals.expected);
      }
      this.pendingScore = { minute, expected };
    }
  }

  /** The latest forecasts, for the API. */
  latestForecasts(filter: { user?: string; type?: string } = {}): Forecast[] {
    const now = this.clock.now();
    const { forecasts } = this.forecasts(now);
    return forecasts.filter(
      (f) => (!filter.user || f.user === filter.user) && (!filter.type || f.taskType === filter.type),
    );
  }
}

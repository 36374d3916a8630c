import type { Config } from "../config/config.js";
import { type Clock, yieldToEventLoop } from "../core/clock.js";
import type { FittedModel, Forecast, Forecaster, SeriesHistory } from "../forecast/forecaster.js";
import { createForecaster } from "../forecast/registry.js";
import type { HistoryStore, MinuteRollup } from "../history/store.js";
import { minuteOf } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { holdFor, reconcile } from "../plan/reconcile.js";
import {
  type Plan,
  type PlannerConfig,
  planShadows,
  type SeriesTemplate,
  seriesKey,
} from "../plan/shadow-planner.js";
import { planFromWindows } from "../plan/window-planner.js";
import { fitsCapacity } from "../pool/environment.js";
import { LiveSeriesWindows } from "./live-series-windows.js";
import type { Orchestrator } from "./orchestrator.js";

export interface RetrainReport {
  at: number;
  durationMs: number;
  series: number;
  fitted: number;
  failed: number;
}

export interface PredictionObserver {
  retrained?(report: RetrainReport): void;
  planned?(durationMs: number, plan: Plan): void;
  /** A forewarm window decision (windowPolicy "forewarm"), with the price in force. */
  windowDecided?(pw: number, ka: number, price: number): void;
  /** Mean absolute error of last minute's expected arrivals per series (tasks per minute). */
  forecastError?(mae: number): void;
}

/** Builds dense per-series histories from sorted rollup rows. */
export function historiesFromRollups(rows: readonly MinuteRollup[]): SeriesHistory[] {
  const out: SeriesHistory[] = [];
  let i = 0;
  while (i < rows.length) {
    const first = rows[i]!;
    let j = i;
    while (j < rows.length && rows[j]!.user === first.user && rows[j]!.taskType === first.taskType) j++;
    const start = first.minute;
    const end = rows[j - 1]!.minute;
    const arrivals = new Float64Array(end - start + 1);
    const concurrency = new Float64Array(end - start + 1);
    for (let k = i; k < j; k++) {
      arrivals[rows[k]!.minute - start] = rows[k]!.arrivals;
      concurrency[rows[k]!.minute - start] = rows[k]!.peakConcurrency;
    }
    if (arrivals.some((a) => a > 0)) {
      out.push({ user: first.user, taskType: first.taskType, startMinute: start, arrivals, concurrency });
    }
    i = j;
  }
  return out;
}

/**
 * The predictive loop on the live server: retrain per-series models on a rolling window (in slices,
 * yielding between them so the API stays responsive), and on every planning cycle forecast each
 * series, plan shadow environments (pure planner) and reconcile the pool towards the plan.
 * A model that throws or forecasts garbage costs only its own series, which then stays reactive.
 */
export class PredictionLoop {
  private models = new Map<string, FittedModel>();
  private readonly forecaster: Forecaster;
  private retrainTimer: NodeJS.Timeout | null = null;
  private planTimer: NodeJS.Timeout | null = null;
  private retraining: Promise<RetrainReport> | null = null;
  private readonly complained = new Set<string>();
  /** Expected arrivals per series for the minute being forecast, scored once that minute is over. */
  private pendingScore: { minute: number; expected: Map<string, number> } | null = null;
  /** The forewarm window policy (windowPolicy "forewarm"), else null. */
  readonly windows: LiveSeriesWindows | null;
  lastPlan: Plan | null = null;
  lastForecastError: number | null = null;
  lastRetrain: RetrainReport | null = null;
  observer: PredictionObserver = {};

  constructor(
    private readonly config: Config,
    private readonly orchestrator: Orchestrator,
    private readonly store: HistoryStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    forecaster?: Forecaster,
  ) {
    this.forecaster = forecaster ?? createForecaster(config.prediction.model);
    this.windows =
      config.prediction.windowPolicy === "forewarm"
        ? new LiveSeriesWindows(
            config.prediction,
            orchestrator,
            store,
            log,
            config.defaults.resources.memoryMb,
          )
        : null;
    if (this.windows)
      this.windows.onDecision = (w, price) => this.observer.windowDecided?.(w.pw, w.ka, price);
  }

  /**
   * Starts planning; `retraining` also refits the forecast models on a rolling window (the leader's
   * work in a cluster: see setRetraining).
   */
  start(retraining = true): void {
    const p = this.config.prediction;
    this.windowsApplied = false;
    // The short reactive keep-alive applies only once the windows plan (see Orchestrator.planning).
    this.orchestrator.planning = () => this.windowsApplied;
    this.setRetraining(retraining);
    this.planTimer = setInterval(() => {
      // A planning bug must cost a cycle, not the server (and every tenant's running work).
      try {
        this.planCycle();
      } catch (err) {
        this.log.error({ event: "plan_failed", err }, "planning cycle failed; the next cycle retries");
      }
    }, p.planIntervalMs);
    this.planTimer.unref();
    if (this.windows) void this.windows.rebuild(this.clock.now(), () => this.clock.now());
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
      this.observer.forecastError?.(0);
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

  stop(): void {
    this.setRetraining(false);
    if (this.planTimer) clearInterval(this.planTimer);
    this.windowsApplied = false;
    this.orchestrator.planning = () => false;
    // A server that stops planning does not finish relearning: the next start relearns afresh.
    this.windows?.cancel();
    this.releaseHolds();
  }

  /**
   * Nothing plans this pool any more (shutting down, or leadership lost with forecast windows): every hold is released, idle
   * shadows are reclaimed and reactive environments fall back to the keep-alive — otherwise a held
   * environment would stay for good, since only a plan releases holds.
   */
  private releaseHolds(): void {
    const pool = this.orchestrator.pool;
    for (const e of this.orchestrator.snapshot().environments) {
      if (e.hold === null) continue;
      const env = pool.get(e.id);
      if (!env) continue;
      pool.setHold(env, null);
      if (env.shadow && env.state === "ready")
        pool.reclaim(env.id, "not planning: shutting down or leadership lost");
    }
  }

  /** The forewarm windows have relearned the history and a plan from them is in force. */
  private windowsApplied = false;

  get plannerConfig(): PlannerConfig {
    const p = this.config.prediction;
    return {
      confidenceThreshold: p.confidenceThreshold,
      minArrivalProbability: p.minArrivalProbability,
      graceMs: p.graceMs,
      shadowCapacityFraction: p.shadowCapacityFraction,
      maxPerSeries: p.maxPerSeries,
      concurrencyHeadroom: p.concurrencyHeadroom,
      defaultLeadMs: p.defaultLeadMs,
      leadFactor: p.leadFactor,
      windowPolicy: p.windowPolicy,
      pricePerGbMinute: p.pricePerGbMinute,
    };
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
    const rows = await this.store.rollups({
      fromMinute: minuteOf(now) - p.windowMinutes,
      toMinute: minuteOf(now),
    });
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
    this.observer.retrained?.(report);
    return report;
  }

  private complain(series: string, message: string): void {
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

  /** One planning cycle: forecast, plan (pure), reconcile the pool. */
  planCycle(): Plan {
    const started = performance.now();
    const now = this.clock.now();
    const { forecasts, skipped } = this.forecasts(now);
    this.scoreLastMinute(now, forecasts);
    const templates = new Map<string, SeriesTemplate>();
    for (const [key, a] of this.orchestrator.seriesActivity()) {
      templates.set(key, { user: a.user, taskType: a.taskType, spec: a.spec });
    }
    const pool = this.orchestrator.snapshot();
    let plan: Plan;
    if (this.windows) {
      this.windows.observeEndedMinutes(now, () => this.clock.now());
      plan = planFromWindows({
        now,
        windows: this.windows.latest(),
        busyNow: this.windows.busyNow(now),
        templates,
        forecasts: new Map(forecasts.map((f) => [seriesKey(f.user, f.taskType), f])),
        leadMs: this.orchestrator.pool.leadTimes(),
        pool,
        config: this.plannerConfig,
      });
    } else {
      plan = planShadows({
        now,
        forecasts,
        templates,
        leadMs: this.orchestrator.pool.leadTimes(),
        pool,
        config: this.plannerConfig,
      });
    }
    plan.skipped.push(...skipped);
    for (const s of plan.skipped)
      if (s.reason.startsWith("forecast invalid")) this.complain(s.series, s.reason);
    this.lastPlan = plan;
    if (!this.orchestrator.isClosing) {
      this.apply(plan);
      if (this.windows?.ready) this.windowsApplied = true;
    }
    this.observer.planned?.((performance.now() - started) / 1000, plan);
    return plan;
  }

  /** When a minute ends, compares its forecast arrivals with what arrived; starts scoring the new one. */
  private scoreLastMinute(now: number, forecasts: readonly Forecast[]): void {
    const minute = minuteOf(now);
    const pending = this.pendingScore;
    if (pending && pending.minute < minute && pending.expected.size > 0) {
      const counts = this.orchestrator.arrivalCounts(pending.minute);
      let err = 0;
      for (const [key, expected] of pending.expected) err += Math.abs(expected - (counts.get(key) ?? 0));
      this.lastForecastError = err / pending.expected.size;
      this.observer.forecastError?.(this.lastForecastError);
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

  private apply(plan: Plan): void {
    const pool = this.orchestrator.pool;
    const actions = reconcile(plan, this.orchestrator.snapshot());
    for (const r of actions.release) {
      const env = pool.get(r.environmentId);
      if (!env) continue;
      pool.setHold(env, null);
      // Shadows exist only for the plan; a reactive environment falls back to its keep-alive.
      if (r.shadow) pool.reclaim(env.id, r.reason);
    }
    for (const h of actions.hold) {
      const env = pool.get(h.environmentId);
      if (env) {
        pool.setHold(env, holdFor(h.desired, plan.now));
      }
    }
    for (const r of actions.resize) {
      const env = pool.get(r.environmentId);
      if (env?.state !== "ready") continue;
      const d = r.desired;
      pool.setHold(env, holdFor(d, plan.now));
      this.orchestrator.track(
        pool.resize(env, d.spec.resources).then((ok) => {
          this.log.info(
            { event: "shadow_resize", env: env.id, memoryMb: d.spec.resources.memoryMb, inPlace: ok },
            ok ? "shadow resized in place" : "shadow could not be resized in place; replacing it",
          );
          // Not resizable in place: the next cycle creates one of the right size.
          if (!ok && env.shadow) pool.reclaim(env.id, "replaced: forecast size changed");
          else if (!ok) pool.setHold(env, null);
        }),
      );
    }
    for (const d of actions.create) {
      // The plan's budget counts busy environments only; idle leftovers also hold capacity.
      const snap = this.orchestrator.snapshot();
      if (!fitsCapacity(snap.environments, snap.capacity, d.spec.resources)) {
        this.log.debug(
          { event: "shadow_skipped", series: d.series, reason: "capacity" },
          "no room for a shadow",
        );
        continue;
      }
      const activity = this.orchestrator.seriesActivity().get(d.series);
      const env = pool.add(d.user, d.spec, true);
      pool.setHold(env, holdFor(d, plan.now));
      this.log.info(
        { event: "shadow_create", env: env.id, user: d.user, type: d.taskType, reason: d.reason },
        "creating shadow environment",
      );
      // Warm-up: dependencies, then the task's module (imported, not called: calling could have effects).
      const warmup = activity ? { modulePath: activity.modulePath } : {};
      this.orchestrator.track(
        pool.bringUp(env, warmup).then((failure) => {
          if (failure !== null) {
            this.log.warn(
              { event: "shadow_failed", env: env.id, error: failure },
              "shadow environment failed to start",
            );
          } else {
            pool.markIdle(env);
          }
          this.orchestrator.pump();
        }),
      );
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

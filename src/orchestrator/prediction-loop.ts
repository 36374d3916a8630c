import type { Config } from "../config/config.js";
import type { Clock } from "../core/clock.js";
import type { ResourceVector } from "../core/types.js";
import type { Forecast, Forecaster } from "../forecast/forecaster.js";
import type { HistoryStore } from "../history/store.js";
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
import { type ModelObserver, type RetrainReport, SeriesModels } from "./series-models.js";

export interface PredictionObserver extends ModelObserver {
  planned?(durationMs: number, plan: Plan): void;
  /** A forewarm window decision (windowPolicy "forewarm"), with the price in force. */
  windowDecided?(pw: number, ka: number, price: number): void;
}

/**
 * The predictive loop on the live server: on every planning cycle, plan shadow environments (pure
 * planner) from the forewarm windows, or from each series' forecast (series-models.ts), and reconcile
 * the pool towards the plan.
 */
export class PredictionLoop {
  /** The forecast models (retrained by the leader; see setRetraining). */
  private readonly models: SeriesModels;
  private planTimer: NodeJS.Timeout | null = null;
  /** The forewarm window policy (windowPolicy "forewarm"), else null. */
  readonly windows: LiveSeriesWindows | null;
  lastPlan: Plan | null = null;
  observer: PredictionObserver = {};

  constructor(
    private readonly config: Config,
    private readonly orchestrator: Orchestrator,
    store: HistoryStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    forecaster?: Forecaster,
  ) {
    this.models = new SeriesModels(config, orchestrator, store, clock, log, () => this.observer, forecaster);
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
   * Refits the forecast models (now and every retrainIntervalMs) or stops doing so, dropping them. The
   * forewarm windows need no models (forecasts only size environments): in a cluster every server
   * plans from its own windows and only the leader retrains.
   */
  setRetraining(on: boolean): void {
    this.models.setRetraining(on);
  }

  get lastRetrain(): RetrainReport | null {
    return this.models.lastRetrain;
  }

  get lastForecastError(): number | null {
    return this.models.lastForecastError;
  }

  /** The latest forecasts, for the API. */
  latestForecasts(filter: { user?: string; type?: string } = {}): Forecast[] {
    return this.models.latestForecasts(filter);
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

  /** One planning cycle: forecast, plan (pure), reconcile the pool. */
  planCycle(): Plan {
    const started = performance.now();
    const now = this.clock.now();
    const { forecasts, skipped } = this.models.forecasts(now);
    this.models.scoreLastMinute(now, forecasts);
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
      if (s.reason.startsWith("forecast invalid")) this.models.complain(s.series, s.reason);
    this.lastPlan = plan;
    if (!this.orchestrator.isClosing) {
      this.apply(plan);
      if (this.windows?.ready) this.windowsApplied = true;
    }
    this.observer.planned?.((performance.now() - started) / 1000, plan);
    return plan;
  }

  /**
   * Reactive environments the backend could not resize in place (no hard limits: no cgroups): a plan
   * that wants another size creates a shadow of it instead of asking them again every cycle.
   */
  private readonly cannotResize = new Set<string>();

  /** Reconciles the pool towards `plan` (planCycle's last step). */
  apply(plan: Plan): void {
    const pool = this.orchestrator.pool;
    const snapshot = this.orchestrator.snapshot();
    if (this.cannotResize.size > 0) {
      const live = new Set(snapshot.environments.map((e) => e.id));
      for (const id of this.cannotResize) if (!live.has(id)) this.cannotResize.delete(id);
    }
    const actions = reconcile(plan, snapshot, this.cannotResize);
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
      // One resizing already (a slow backend): the next cycle sees how it went.
      if (env?.state !== "ready" || env.resizingTo) continue;
      const d = r.desired;
      const growth = growthOf(env.spec.resources, d.spec.resources);
      if (growth.cpu > 0 || growth.memoryMb > 0) {
        // Like a create: the plan's budget counts busy environments only. The growth of resizes
        // started before is in the snapshot: the pool holds it from the start (resizeIdle).
        const snap = this.orchestrator.snapshot();
        if (!fitsCapacity(snap.environments, snap.capacity, growth, undefined, 1)) {
          this.log.debug(
            { event: "shadow_skipped", series: d.series, env: env.id, reason: "capacity: resize" },
            "no room to grow an environment for a shadow",
          );
          continue;
        }
      }
      pool.setHold(env, holdFor(d, plan.now));
      this.orchestrator.track(
        pool.resizeIdle(env, d.spec.resources).then((ok) => {
          this.log.info(
            { event: "shadow_resize", env: env.id, memoryMb: d.spec.resources.memoryMb, inPlace: ok },
            ok ? "shadow resized in place" : "shadow could not be resized in place; replacing it",
          );
          // Not resizable in place: the next cycle creates one of the right size (a reactive
          // environment falls back to its keep-alive and is not asked again).
          if (!ok && env.shadow) pool.reclaim(env.id, "replaced: forecast size changed");
          else if (!ok) {
            pool.setHold(env, null);
            // Without hard limits it never can (reconcile knows that, and a Node heap's ceiling, from
            // the environment); a shrink below current use fails for now only.
            const limited = pool.describe().find((e) => e.id === env.id)?.hardLimits ?? false;
            if (!limited) this.cannotResize.add(env.id);
          }
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
}

/** What growing `from` to `to` takes (a dimension that shrinks frees nothing until the resize is done). */
function growthOf(from: ResourceVector, to: ResourceVector): ResourceVector {
  return {
    cpu: Math.max(0, to.cpu - from.cpu),
    memoryMb: Math.max(0, to.memoryMb - from.memoryMb),
    storageMb: 0,
    networkMbps: 0,
  };
}

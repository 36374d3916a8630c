import { MinHeap } from "../core/min-heap.js";
import { type EnvironmentSpec, specKey } from "../core/types.js";
import type { FittedModel, Forecast, Forecaster } from "../forecast/forecaster.js";
import { InterArrivalForecaster } from "../forecast/models/interarrival.js";
import { holdFor, reconcile } from "../plan/reconcile.js";
import {
  type BusySeries,
  type SeriesWindow,
  type SeriesWindowOptions,
  SeriesWindows,
} from "../plan/series-windows.js";
import {
  PLANNER_DEFAULTS,
  type PlannerConfig,
  planShadows,
  type SeriesTemplate,
} from "../plan/shadow-planner.js";
import { planFromWindows } from "../plan/window-planner.js";
import type { EnvironmentView, PoolSnapshot } from "../pool/environment.js";
import { expiredEnvironments, routeTask } from "../route/router.js";
import { peakHeld } from "./env-pool.js";
import { type M2Score, m2Score } from "./m2.js";
import type { EventTrace } from "./trace.js";

export interface PlannedM2Options {
  coldStartSeconds?: number;
  /** Keep-alive of environments the plan does not hold (the live default: 10 minutes). */
  keepAliveSeconds?: number;
  planner?: Partial<PlannerConfig>;
  horizonMinutes?: number;
  quietMinutes?: number;
  forecaster?: Forecaster;
  /** Called every 65,536 arrivals with (arrivals done, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * The live `windowPolicy: "forewarm"` path instead of forecasts: replay's forewarm learner told each
   * minute's busy apps once the minute is over (arrival order), its windows planned by planFromWindows.
   * maxSeries defaults to the trace's app count.
   */
  windows?: Omit<SeriesWindowOptions, "maxSeries"> & {
    /** Each app's user id (the trace's), for the learner's pooled priors; each app its own when absent. */
    appUser?: ArrayLike<number>;
  };
  /**
   * Another source of minute windows on the same path (planFromWindows, reconcile, the router): e.g.
   * an M1 policy's decisions (policy-windows.ts), given the trace's app count and each series' app
   * (the trace's index).
   */
  windowSource?: (apps: number, appOf: (series: string) => number) => MinuteWindows;
}

/** What the window path needs of a window source: told each ended minute's busy series, it holds each series' latest window. */
export interface MinuteWindows {
  learnMinute(minute: number, busy: readonly BusySeries[]): void;
  windows(): Iterable<SeriesWindow>;
}

/** Each app is one series (its only task type, `t`), named by the trace's app index. */
const seriesOf = (app: number): string => `${app}|t`;
const appOfSeries = (series: string): number => Number(series.slice(0, -2));

const UNLIMITED = {
  cpu: Number.POSITIVE_INFINITY,
  memoryMb: Number.POSITIVE_INFINITY,
  maxEnvironments: Number.MAX_SAFE_INTEGER,
};

/**
 * Model M2 with the live system's prediction loop in virtual time: every minute the live forecaster
 * (refitted when its app had a new busy minute) forecasts each app, the live `planShadows` and
 * `reconcile` decide which shadow environments exist, and every arrival is routed by the live
 * `routeTask`; unheld environments expire by `expiredEnvironments`. Times inside are milliseconds,
 * as on the server. Meant for traces of up to about a thousand apps over a day (it plans every
 * app every minute).
 */
export function runM2Planned(trace: EventTrace, name: string, options: PlannedM2Options = {}): M2Score {
  const L = (options.coldStartSeconds ?? 0) * 1000;
  const ka = (options.keepAliveSeconds ?? 600) * 1000;
  const horizonMin = options.horizonMinutes ?? 60;
  const quietMs = (options.quietMinutes ?? 120) * 60_000;
  const config: PlannerConfig = { ...PLANNER_DEFAULTS, defaultLeadMs: L, ...options.planner };
  const forecaster = options.forecaster ?? new InterArrivalForecaster();
  const nApps = trace.appNames.length;
  const mem = trace.appMemoryMb;
  const specs: EnvironmentSpec[] = Array.from(mem, (m) => ({
    runtime: "node" as const,
    dependencies: [],
    resources: { cpu: 0, memoryMb: m, storageMb: 0, networkMbps: 0 },
  }));
  const templates = new Map<string, SeriesTemplate>();
  const leadMs = new Map<string, number>();
  const envsOf: EnvironmentView[][] = Array.from({ length: nApps }, () => []);
  const all: EnvironmentView[] = [];
  // Environments not gone, in creation order (as `all`), compacted once per plan: a plan used to
  // filter every environment ever created.
  let alive: EnvironmentView[] = [];
  // Apps with a gone environment still in their list (prune only those).
  const dirty = new Uint8Array(nApps);
  const memEvents: number[] = [];
  let wasted = 0; // MB·ms
  // Every busy minute's arrivals per app, for the forecasters' fits; the window path needs only the
  // current minute's (minuteArrivals, reset when the app is first busy in a minute).
  const busyMinutes: Map<number, number>[] | null =
    options.windows || options.windowSource ? null : Array.from({ length: nApps }, () => new Map());
  const minuteArrivals = new Float64Array(nApps);
  const userOf = Array.from({ length: nApps }, (_, a) => String(a));
  const lastArrival = new Float64Array(nApps).fill(Number.NaN);
  const models: (FittedModel | null)[] = new Array(nApps).fill(null);
  const fittedThrough = new Float64Array(nApps).fill(Number.NaN);
  const windows: MinuteWindows | null = options.windowSource
    ? options.windowSource(nApps, appOfSeries)
    : options.windows
      ? new SeriesWindows({ ...options.windows, maxSeries: nApps })
      : null;
  const poolUser = options.windows?.appUser;
  // Apps busy in the current minute, in arrival order (what the live server's activity log holds).
  let busyMinute = Number.NaN;
  let busyApps: number[] = [];
  const markedMinute = new Float64Array(nApps).fill(Number.NaN);
  // Per busy app of the current minute: the most of its invocations that would have run at once, all
  // warm, seen from each arrival (as live, series-activity.ts, which knows run times only for tasks of
  // the last few minutes that have started): not the environments a cold start's cascade brought up,
  // nor the overlap of executions a cold start delayed.
  let peakRunning = new Map<number, number>();
  // Per app, arrival + duration of its invocations that may still overlap a later arrival (a heap:
  // an arrival costs log of the app's concurrency, not the concurrency).
  const inFlight: (MinHeap | undefined)[] = new Array(nApps);
  const empty = new Map<string, Forecast>();

  const destroy = (e: EnvironmentView, at: number) => {
    const app = Number(e.user);
    if (e.idleSince !== null) wasted += (at - e.idleSince) * mem[app]!;
    memEvents.push(at, -mem[app]!);
    e.state = "gone";
    dirty[app] = 1;
  };
  const promote = (app: number, t: number) => {
    for (const e of envsOf[app]!) {
      if (e.state === "warming" && (e.readyAt ?? 0) <= t) {
        e.state = "ready";
        e.idleSince = e.readyAt;
      }
    }
  };
  const prune = (app: number) => {
    if (dirty[app] === 0) return;
    dirty[app] = 0;
    envsOf[app] = envsOf[app]!.filter((e) => e.state !== "gone");
  };
  const snapshot = (app: number, t: number): PoolSnapshot => ({
    now: t,
    environments: envsOf[app]!,
    capacity: UNLIMITED,
  });
  const create = (app: number, t: number, shadow: boolean): EnvironmentView => {
    const spec = specs[app]!;
    const e: EnvironmentView = {
      id: String(all.length),
      user: String(app),
      spec,
      specKey: specKey(spec),
      state: shadow ? (L === 0 ? "ready" : "warming") : "busy",
      shadow,
      createdAt: t,
      readyAt: t + L,
      idleSince: shadow && L === 0 ? t : null,
      tasksRun: 0,
      coldStartMs: L,
      idleMbMs: 0,
      hold: null,
    };
    all.push(e);
    alive.push(e);
    envsOf[app]!.push(e);
    memEvents.push(t, mem[app]!);
    return e;
  };

  const plan = (t: number) => {
    const minute = Math.floor(t / 60_000);
    const forecasts: Forecast[] = [];
    // The window policy needs no forecasts: the ended minute's busy apps are its input.
    if (windows && busyMinute < minute && busyApps.length > 0) {
      windows.learnMinute(
        busyMinute,
        busyApps.map((a) => ({
          series: seriesOf(a),
          // Pooling key only (environments stay per app): the trace's user where it has one, as in M1.
          user: poolUser && poolUser[a]! >= 0 ? `u${poolUser[a]}` : "",
          memoryMb: mem[a]!,
          environments: peakRunning.get(a) ?? 1,
          arrivals: minuteArrivals[a]!,
        })),
      );
      busyApps = [];
    }
    for (let app = 0; app < nApps && !windows; app++) {
      const last = lastArrival[app]!;
      if (Number.isNaN(last) || t - last > quietMs) continue;
      const lastMin = Math.floor(last / 60_000);
      if (fittedThrough[app] !== lastMin) {
        const counts = busyMinutes![app]!;
        const first = Math.min(...counts.keys());
        const arrivals = new Float64Array(lastMin - first + 1);
        for (const [m, c] of counts) arrivals[m - first] = c;
        try {
          models[app] = forecaster.fit({ user: String(app), taskType: "t", startMinute: first, arrivals });
        } catch {
          models[app] = null;
        }
        fittedThrough[app] = lastMin;
      }
      const model = models[app];
      if (!model) continue;
      try {
        forecasts.push(
          model.predict({ fromMinute: minute, horizon: horizonMin, level: 0.8, lastArrivalMinute: lastMin }),
        );
      } catch {
        // a failing model costs only its app, as live
      }
    }
    // Expiry is otherwise applied lazily at arrivals: apply it before the plan may hold an environment.
    for (let app = 0; app < nApps; app++) {
      if (envsOf[app]!.length === 0) continue;
      promote(app, t);
      for (const e of expiredEnvironments(snapshot(app, t), ka)) destroy(e, (e.idleSince ?? t) + ka);
      prune(app);
    }
    alive = alive.filter((e) => e.state !== "gone");
    const environments = alive;
    const pool: PoolSnapshot = { now: t, environments, capacity: UNLIMITED };
    const p = windows
      ? planFromWindows({
          now: t,
          windows: windows.windows(),
          busyNow: new Map(
            busyMinute === minute ? busyApps.map((a) => [seriesOf(a), peakRunning.get(a) ?? 1]) : [],
          ),
          templates,
          forecasts: empty,
          leadMs,
          pool,
          config,
        })
      : planShadows({ now: t, forecasts, templates, leadMs, pool, config });
    const actions = reconcile(p, pool);
    for (const r of actions.release) {
      const e = all[Number(r.environmentId)]!;
      e.hold = null;
      if (e.state === "busy") continue;
      // A shadow goes now; a reactive environment falls back to its keep-alive — and if that ran out
      // while it was held, it goes now too (expiring it at idleSince + ka would drop the held time).
      if (r.shadow || (e.idleSince ?? t) + ka <= t) destroy(e, t);
    }
    for (const h of actions.hold) {
      const e = all[Number(h.environmentId)]!;
      e.hold = holdFor(h.desired, t);
    }
    for (const d of actions.create) {
      const e = create(Number(d.user), t, true);
      e.hold = holdFor(d, t);
    }
    for (let app = 0; app < nApps; app++) prune(app);
  };

  for (let app = 0; app < nApps; app++) {
    templates.set(seriesOf(app), { user: String(app), taskType: "t", spec: specs[app]! });
    leadMs.set(specKey(specs[app]!), L);
  }

  const ends = new MinHeap();
  const total = trace.app.length;
  const latency = new Float64Array(total);
  let cold = 0;
  let endOfTrace = Number.NEGATIVE_INFINITY;
  // The window path plans as often as the live server does (planIntervalMs, 5 s) so that a shadow is
  // created at its window's start − lead, not at the next minute; the forecast path plans per minute.
  const tickMs = windows ? 5_000 : 60_000;
  let nextTick = total > 0 ? Math.floor((trace.start[0]! * 1000) / 60_000) * 60_000 : 0;
  const release = (until: number) => {
    while (ends.size > 0 && ends.peekKey() <= until) {
      const at = ends.peekKey();
      const e = all[ends.pop()]!;
      e.state = "ready";
      e.idleSince = at;
      e.tasksRun++;
    }
  };
  for (let i = 0; i < total; i++) {
    const t = trace.start[i]! * 1000;
    const app = trace.app[i]!;
    // Task ends and planning minutes up to this arrival, in time order (ends first at an instant).
    while (nextTick <= t) {
      release(nextTick);
      plan(nextTick);
      nextTick += tickMs;
    }
    release(t);
    promote(app, t);
    for (const e of expiredEnvironments(snapshot(app, t), ka)) destroy(e, (e.idleSince ?? t) + ka);
    prune(app);
    const decision = routeTask({ user: userOf[app]!, spec: specs[app]! }, snapshot(app, t));
    let env: EnvironmentView;
    let begin = t;
    if (decision.kind === "warm") {
      env = all[Number(decision.environmentId)]!;
      wasted += (t - (env.idleSince ?? t)) * mem[app]!;
      env.idleSince = null;
      env.state = "busy";
    } else {
      cold++;
      begin = t + L;
      env = create(app, t, false);
    }
    latency[i] = (begin - t) / 1000;
    const minute = Math.floor(t / 60_000);
    const counts = busyMinutes?.[app];
    if (counts) counts.set(minute, (counts.get(minute) ?? 0) + 1);
    if (minute !== busyMinute) {
      busyMinute = minute;
      busyApps = [];
      peakRunning = new Map();
    }
    if (markedMinute[app] !== minute) {
      markedMinute[app] = minute;
      busyApps.push(app);
      minuteArrivals[app] = 0;
    }
    minuteArrivals[app]! += 1;
    lastArrival[app] = t;
    const d = trace.duration[i]! * 1000;
    endOfTrace = Math.max(endOfTrace, t + d + L);
    if (windows) {
      const flight = inFlight[app] ?? new MinHeap();
      inFlight[app] = flight;
      while (flight.size > 0 && flight.peekKey() <= t) flight.pop();
      flight.push(t + d, i, 0);
      peakRunning.set(app, Math.max(peakRunning.get(app) ?? 0, flight.size));
    }
    ends.push(begin + d, i, Number(env.id));
    if (options.onProgress && (i + 1) % 65536 === 0) options.onProgress(i + 1, total);
  }
  release(Number.POSITIVE_INFINITY);
  for (const e of all) {
    if (e.state === "gone") continue;
    const idleFrom = e.state === "warming" ? (e.readyAt ?? endOfTrace) : (e.idleSince ?? endOfTrace);
    e.idleSince = Math.min(idleFrom, endOfTrace);
    // A hold ends at its `until`: a shadow is released then, a reactive one keeps its keep-alive.
    const held = e.hold ? (e.shadow ? e.hold.until : Math.max(e.hold.until, e.idleSince + ka)) : 0;
    const expiry = Math.min(endOfTrace, e.hold ? held : e.idleSince + ka);
    destroy(e, Math.max(e.idleSince, expiry));
  }
  return m2Score(name, cold, latency, {
    environmentsCreated: all.length,
    wastedMbS: wasted / 1000,
    peakMemoryMb: peakHeld(memEvents),
  });
}

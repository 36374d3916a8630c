import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Environment lifecycle states, exported at 0 from the start so dashboards draw every line. */
export const ENVIRONMENT_STATES = ["creating", "warming", "ready", "busy", "draining"] as const;

/** 1 ms … 30 s: a warm start is milliseconds, a cold one can be tens of seconds. */
export const START_LATENCY_BUCKETS_S = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const PLANNER_CYCLE_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RETRAIN_BUCKETS_S = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export interface PoolSnapshotMetrics {
  /** Environments per lifecycle state; states missing here are exported as 0. */
  environments: Record<string, number>;
  queueLength: number;
  /** Used / capacity per resource (e.g. cpu, memory, count), 0…1. */
  capacityUsed: Record<string, number>;
}

export interface ForewarmMetricsOptions {
  /** Process metrics (CPU, memory, event loop, GC) with the forewarm_ prefix. Default true. */
  defaultMetrics?: boolean;
}

/**
 * Every Prometheus metric forewarm exports, on a Registry of its own (not prom-client's global
 * one, so that tests and several instances in one process never collide). Methods are named for
 * the event that happened; the server calls them and serves `render()` at /metrics.
 */
export class ForewarmMetrics {
  readonly registry = new Registry();
  private readonly coldStarts: Counter;
  private readonly warmStarts: Counter;
  private readonly requeues: Counter<"start">;
  private readonly tasks: Counter<"status">;
  private readonly reclaims: Counter<"reason">;
  private readonly wastedMemoryMbSeconds: Counter;
  private readonly startLatency: Histogram;
  private readonly environments: Gauge<"state">;
  private readonly queueLength: Gauge;
  private readonly capacityUsedRatio: Gauge<"resource">;
  private readonly forecastErrorGauge: Gauge;
  private readonly plannerCycleSeconds: Histogram;
  private readonly retrainSeconds: Histogram;
  private readonly retrainSeries: Gauge;
  private readonly leader: Gauge;
  private readonly member: Gauge;
  private readonly windowDecisions: Counter<"kind">;
  private readonly apiDenied: Counter<"reason">;
  private readonly windowPrice: Gauge;
  private readonly tlsExpiry: Gauge;
  private readonly tlsReloads: Counter<"result">;
  /** Whether the certificate files on disk hold the pair in force (read at each scrape). */
  private tlsFilesValid: () => boolean = () => true;
  private readonly seenStates = new Set<string>(ENVIRONMENT_STATES);

  constructor(options: ForewarmMetricsOptions = {}) {
    const registers = [this.registry];
    this.coldStarts = new Counter({
      name: "forewarm_cold_starts_total",
      help: "Tasks that waited for an environment to be created and warmed.",
      registers,
    });
    this.warmStarts = new Counter({
      name: "forewarm_warm_starts_total",
      help: "Tasks that started in an environment that was already warm.",
      registers,
    });
    this.requeues = new Counter({
      name: "forewarm_task_requeues_total",
      help: "Starts that found their worker dead before the task ran (the task was queued again); each is also in forewarm_cold_starts_total or forewarm_warm_starts_total, by `start`.",
      labelNames: ["start"],
      registers,
    });
    this.apiDenied = new Counter({
      name: "forewarm_api_denied_total",
      help: "API requests refused by the token check (auth.tokensFile), by reason: missing or malformed header, unknown token, expired token, or a route the token's role may not call.",
      labelNames: ["reason"],
      registers,
    });
    this.tasks = new Counter({
      name: "forewarm_tasks_total",
      help: "Tasks that reached a final state, by status.",
      labelNames: ["status"],
      registers,
    });
    this.reclaims = new Counter({
      name: "forewarm_reclaims_total",
      help: "Environments reclaimed, by reason (idle, plan, capacity, ...).",
      labelNames: ["reason"],
      registers,
    });
    this.wastedMemoryMbSeconds = new Counter({
      name: "forewarm_wasted_memory_mb_seconds_total",
      help: "Memory (MB) x seconds that environments sat ready but idle.",
      registers,
    });
    this.startLatency = new Histogram({
      name: "forewarm_start_latency_seconds",
      help: "Time from the routing decision until the task began executing.",
      buckets: START_LATENCY_BUCKETS_S,
      registers,
    });
    this.environments = new Gauge({
      name: "forewarm_environments",
      help: "Environments by lifecycle state.",
      labelNames: ["state"],
      registers,
    });
    this.queueLength = new Gauge({
      name: "forewarm_queue_length",
      help: "Tasks waiting for an environment.",
      registers,
    });
    this.capacityUsedRatio = new Gauge({
      name: "forewarm_capacity_used_ratio",
      help: "Share of the pool's capacity in use, by resource (0..1).",
      labelNames: ["resource"],
      registers,
    });
    this.forecastErrorGauge = new Gauge({
      name: "forewarm_forecast_error",
      help: "Recent mean absolute error of the planner's arrival forecasts (tasks per minute).",
      registers,
    });
    this.plannerCycleSeconds = new Histogram({
      name: "forewarm_planner_cycle_seconds",
      help: "Duration of one forecast-and-plan cycle.",
      buckets: PLANNER_CYCLE_BUCKETS_S,
      registers,
    });
    this.retrainSeconds = new Histogram({
      name: "forewarm_retrain_duration_seconds",
      help: "Duration of one retraining run over all series.",
      buckets: RETRAIN_BUCKETS_S,
      registers,
    });
    this.retrainSeries = new Gauge({
      name: "forewarm_retrain_series",
      help: "Series fitted by the last retraining run.",
      registers,
    });
    this.leader = new Gauge({
      name: "forewarm_leader",
      help: "1 while this server holds the leader lease (retrains the models; plans forecast windows), else 0.",
      registers,
    });
    this.member = new Gauge({
      name: "forewarm_cluster_member",
      help: "1 while the other servers can see this one is alive (it holds its liveness lock in the shared store; always on the embedded store), 0 while it retakes a lost session: meanwhile the leader may fail its running tasks.",
      registers,
    });
    this.windowDecisions = new Counter({
      name: "forewarm_window_decisions_total",
      help: "Decisions of the forewarm window policy after a series' busy minute: keep (loaded from now), prewarm (unloaded, loaded again later) or unload.",
      labelNames: ["kind"],
      registers,
    });
    this.windowPrice = new Gauge({
      name: "forewarm_window_price",
      help: "Price in force for the forewarm window policy: cold starts per 1000 idle minutes of a memRefMb environment (configured, or calibrated to the budget/target).",
      registers,
    });
    this.tlsExpiry = new Gauge({
      name: "forewarm_tls_certificate_expiry_timestamp_seconds",
      help: "When the TLS certificate in force expires (Unix seconds); 0 when the server serves plain HTTP (no tls.certFile).",
      registers,
    });
    this.tlsReloads = new Counter({
      name: "forewarm_tls_certificate_reloads_total",
      help: "Changes of tls.certFile / tls.keyFile the server looked at: taken (now served), or rejected (the pair did not check out; the previous one stays).",
      labelNames: ["result"],
      registers,
    });
    const files = () => this.tlsFilesValid;
    // Read at each scrape (collect), so nothing keeps a reference.
    new Gauge({
      name: "forewarm_tls_certificate_files_rejected",
      help: "1 while tls.certFile / tls.keyFile hold a pair the server refused (the previous pair is still served); 0 when they hold the pair in force, or without TLS. A renewal that writes the certificate before its key is 1 for a moment.",
      registers,
      collect() {
        this.set(files()() ? 0 : 1);
      },
    });
    for (const state of ENVIRONMENT_STATES) this.environments.set({ state }, 0);
    this.leader.set(0);
    this.member.set(1);
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: "forewarm_" });
  }

  taskStarted(cold: boolean, latencyMs: number): void {
    (cold ? this.coldStarts : this.warmStarts).inc();
    this.startLatency.observe(Math.max(0, latencyMs) / 1000);
  }

  taskRequeued(cold: boolean): void {
    this.requeues.inc({ start: cold ? "cold" : "warm" });
  }
  /** A request the token check refused (src/server/access.ts). */
  apiRequestDenied(reason: "missing" | "unknown" | "expired" | "forbidden"): void {
    this.apiDenied.inc({ reason });
  }

  taskFinished(status: string): void {
    this.tasks.inc({ status });
  }

  reclaimed(reason: string, count = 1): void {
    this.reclaims.inc({ reason }, count);
  }

  /** Adds idle memory-time (MB·s) as it accrues, e.g. when an idle environment is used or reclaimed. */
  wastedMemory(mbSeconds: number): void {
    if (mbSeconds > 0) this.wastedMemoryMbSeconds.inc(mbSeconds);
  }

  setPool(snapshot: PoolSnapshotMetrics): void {
    for (const state of Object.keys(snapshot.environments)) this.seenStates.add(state);
    // A state that emptied must read 0, not keep its last count.
    for (const state of this.seenStates) this.environments.set({ state }, snapshot.environments[state] ?? 0);
    this.queueLength.set(snapshot.queueLength);
    for (const [resource, ratio] of Object.entries(snapshot.capacityUsed)) {
      this.capacityUsedRatio.set({ resource }, ratio);
    }
  }

  plannerCycle(seconds: number): void {
    this.plannerCycleSeconds.observe(seconds);
  }

  retrained(seconds: number, series: number): void {
    this.retrainSeconds.observe(seconds);
    this.retrainSeries.set(series);
  }

  setLeader(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }

  setClusterMember(live: boolean): void {
    this.member.set(live ? 1 : 0);
  }

  /** One forewarm window decision (prewarm `pw` and keep-alive `ka` minutes) at `price`. */
  windowDecided(pw: number, ka: number, price: number): void {
    this.windowDecisions.inc({ kind: ka === 0 ? "unload" : pw > 0 ? "prewarm" : "keep" });
    this.windowPrice.set(price);
  }

  /**
   * The server serves TLS: both reload results start at 0 (an alert on the first rejection needs the
   * series before it), and `filesValid` says at each scrape whether the files hold the pair in force.
   */
  tlsServing(notAfter: Date, filesValid: () => boolean): void {
    this.tlsCertificateInForce(notAfter);
    this.tlsReloads.inc({ result: "taken" }, 0);
    this.tlsReloads.inc({ result: "rejected" }, 0);
    this.tlsFilesValid = filesValid;
  }

  /** The TLS certificate now served expires at `notAfter`. */
  tlsCertificateInForce(notAfter: Date): void {
    this.tlsExpiry.set(Math.floor(notAfter.getTime() / 1000));
  }

  /** A renewed certificate pair was taken, or rejected (the previous pair stays). */
  tlsCertificateReload(result: "taken" | "rejected"): void {
    this.tlsReloads.inc({ result });
  }

  forecastError(meanAbsoluteError: number): void {
    this.forecastErrorGauge.set(meanAbsoluteError);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format, for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

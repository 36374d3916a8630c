import { LeaderLease } from "../cluster/leader-lease.js";
import type { ClusterMembership } from "../cluster/membership.js";
import type { ForewarmMetrics } from "../cluster/metrics.js";
import type { Config } from "../config/config.js";
import type { Clock } from "../core/clock.js";
import type { HistoryStore } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import type { PredictionLoop } from "../orchestrator/prediction-loop.js";

/**
 * Whether this server leads, and what leading means: retraining the forecast models, failing the
 * tasks of servers that died, and history retention. Planning: with the forewarm windows (the
 * default) every server plans its own pool from its own windows, so leadership only switches
 * retraining; with forecast windows, which need the leader's models, only the leader plans. On the
 * embedded store the server is alone and always leads.
 */
export class ClusterRole {
  private lease: LeaderLease | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private leading = false;
  private lastPrune = 0;
  /**
   * When the leader first found each server's liveness lock free, in this unbroken run of sweeps: one
   * sighting is not death (a server whose session a database restart ended is retaking its lock).
   */
  private readonly goneSince = new Map<string, number>();

  constructor(
    private readonly config: Config,
    private readonly store: HistoryStore,
    private readonly membership: ClusterMembership | null,
    private readonly prediction: PredictionLoop | null,
    private readonly metrics: ForewarmMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly serverId: string,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Other servers can see this one is alive (always, on the embedded store). */
  get isClusterMember(): boolean {
    return this.membership?.live ?? true;
  }

  /** Every server plans from its own windows (forewarm); forecast windows need the leader's models. */
  private get everyServerPlans(): boolean {
    return this.config.prediction.windowPolicy === "forewarm";
  }

  async start(): Promise<void> {
    this.sweepTimer = setInterval(() => void this.leaderDuties(), this.config.cluster.leaseRetryMs);
    this.sweepTimer.unref();
    if (this.everyServerPlans) this.prediction?.start(false);
    if (this.config.history.kind !== "postgres") {
      this.setLeader(true);
      return;
    }
    this.lease = new LeaderLease({
      connectionString: this.config.history.url,
      schema: this.config.history.schema,
      holderId: this.serverId,
      retryMs: this.config.cluster.leaseRetryMs,
      onChange: (leader) => this.setLeader(leader),
      onError: (err) => this.log.warn({ event: "lease_error", error: err.message }, "leader lease error"),
    });
    await this.lease.start();
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leading) return;
    this.leading = leader;
    this.metrics.setLeader(leader);
    this.log.info(
      { event: leader ? "leader_acquired" : "leader_lost", server: this.serverId },
      "leadership changed",
    );
    // A new leader watches for cluster.goneAfterMs before failing anyone's tasks.
    this.goneSince.clear();
    if (this.everyServerPlans) this.prediction?.setRetraining(leader);
    else if (leader) this.prediction?.start();
    else this.prediction?.stop();
    if (leader) void this.leaderDuties();
  }

  /**
   * Fails the unfinished tasks of servers that have been gone for cluster.goneAfterMs; prunes old
   * history once a day.
   */
  private async leaderDuties(): Promise<void> {
    if (!this.leading) return;
    try {
      const owners = this.membership ? await this.store.unfinishedOwners() : [];
      for (const owner of this.goneSince.keys()) if (!owners.includes(owner)) this.goneSince.delete(owner);
      for (const owner of owners) {
        if (!this.membership) break;
        if (!(await this.membership.isGone(owner))) {
          this.goneSince.delete(owner);
          continue;
        }
        const now = Date.now();
        const since = this.goneSince.get(owner) ?? now;
        this.goneSince.set(owner, since);
        if (now - since < this.config.cluster.goneAfterMs) continue;
        this.goneSince.delete(owner);
        // Under its lock: a server coming back meanwhile waits, and its new tasks are not failed.
        const n = await this.membership.whileGone(owner, () =>
          this.store.failUnfinished(this.clock.now(), `server ${owner} died before the task ended`, owner),
        );
        if (n !== null && n > 0)
          this.log.warn(
            { event: "dead_server_tasks_failed", owner, count: n },
            "failed tasks of a dead server",
          );
      }
      const days = this.config.history.retentionDays;
      if (days > 0 && Date.now() - this.lastPrune > 86_400_000) {
        this.lastPrune = Date.now();
        const r = await this.store.prune(this.clock.now() - days * 86_400_000);
        this.log.info({ event: "history_pruned", ...r }, "old history pruned");
      }
    } catch (err) {
      // The sightings are no longer an unbroken run: watching starts again.
      this.goneSince.clear();
      this.log.warn({ event: "leader_duty_failed", error: String(err) }, "leader duty failed");
    }
  }

  async leaderInfo(): Promise<unknown> {
    if (!this.lease) return { holderId: this.serverId, embedded: true };
    return this.lease.leaderInfo();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.prediction?.stop();
    await this.lease?.stop();
    // Not leading any more (the gauge and log say so; a later start() leads afresh). A no-op when the
    // lease has already reported the loss.
    this.setLeader(false);
  }
}

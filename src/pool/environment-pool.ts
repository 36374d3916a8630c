import type { EnvironmentBackend, WarmupRequest } from "../backends/backend.js";
import type { Clock } from "../core/clock.js";
import type { EnvironmentSpec, ResourceVector } from "../core/types.js";
import { specKey } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import type { Capacity, EnvironmentState, EnvironmentView, PlanHold, PoolSnapshot } from "./environment.js";

export interface PoolCounters {
  created: number;
  reclaimed: number;
  replaced: number;
  resizedInPlace: number;
  wastedMbMs: number;
  reclaimsByReason: Map<string, number>;
}

/**
 * The pool's actual state and the side effects that change it (create, warm, resize, destroy through
 * the backend). Decisions about *which* environment to touch are made elsewhere, by pure code given
 * a snapshot; this class only carries them out and keeps the books (capacity, idle memory-time,
 * measured cold-start lead time per spec).
 */
export class EnvironmentPool {
  private readonly envs = new Map<string, EnvironmentView>();
  private readonly leads = new Map<string, number>();
  private seq = 0;
  readonly counters: PoolCounters = {
    created: 0,
    reclaimed: 0,
    replaced: 0,
    resizedInPlace: 0,
    wastedMbMs: 0,
    reclaimsByReason: new Map(),
  };
  /** Called whenever capacity or an idle environment may have become available. */
  onChange: () => void = () => {};
  /** Called for every reclaim with its reason's category (for metrics). */
  onReclaim: (reason: string) => void = () => {};

  constructor(
    private readonly backend: EnvironmentBackend,
    private readonly clock: Clock,
    private readonly capacity: Capacity,
    private readonly log: Logger,
    private readonly track: (p: Promise<unknown>) => void,
  ) {
    backend.onExit((envId, reason) => this.onExit(envId, reason));
  }

  snapshot(): PoolSnapshot {
    return {
      now: this.clock.now(),
      environments: [...this.envs.values()].map((e) => ({ ...e, hold: e.hold ? { ...e.hold } : null })),
      capacity: { ...this.capacity },
    };
  }

  get(id: string): EnvironmentView | undefined {
    return this.envs.get(id);
  }

  /** Measured cold-start time (create → ready) per spec key, smoothed. */
  leadTimes(): ReadonlyMap<string, number> {
    return this.leads;
  }

  /** Reserves capacity for a new environment in state `creating`. */
  add(user: string, spec: EnvironmentSpec, shadow: boolean): EnvironmentView {
    const env: EnvironmentView = {
      id: `env-${process.pid}-${++this.seq}`,
      user,
      spec,
      specKey: specKey(spec),
      state: "creating",
      shadow,
      createdAt: this.clock.now(),
      readyAt: null,
      idleSince: null,
      tasksRun: 0,
      coldStartMs: null,
      idleMbMs: 0,
      hold: null,
    };
    this.envs.set(env.id, env);
    this.counters.created++;
    return env;
  }

  /**
   * Creates and warms an environment. Returns null when it is warm (state `warming`, for the caller to
   * make busy or ready), or why it failed (the environment is then gone).
   */
  async bringUp(env: EnvironmentView, warmup: WarmupRequest = {}): Promise<string | null> {
    try {
      const started = await this.backend.create(env.id, env.user, env.spec);
      env.maxInPlaceMemoryMb = started.maxInPlaceMemoryMb;
      // A reclaim during create found no worker to destroy yet: the one created now is ours to end.
      if ((env.state as EnvironmentState) === "gone") {
        await this.backend.destroy(env.id);
        return "environment reclaimed while starting";
      }
      env.state = "warming";
      await this.backend.warm(env.id, warmup);
      if ((env.state as EnvironmentState) === "gone") {
        await this.backend.destroy(env.id);
        return "environment reclaimed while warming";
      }
      env.readyAt = this.clock.now();
      env.coldStartMs = env.readyAt - env.createdAt;
      const prev = this.leads.get(env.specKey);
      this.leads.set(env.specKey, prev === undefined ? env.coldStartMs : 0.7 * prev + 0.3 * env.coldStartMs);
      return null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.envs.delete(env.id);
      env.state = "gone";
      await this.backend.destroy(env.id).catch(() => {});
      this.onChange();
      return message;
    }
  }

  markBusy(env: EnvironmentView): void {
    this.accountIdle(env);
    env.state = "busy";
  }

  markIdle(env: EnvironmentView): void {
    if (env.state === "gone") return;
    env.state = "ready";
    env.idleSince = this.clock.now();
  }

  setHold(env: EnvironmentView, hold: PlanHold | null): void {
    env.hold = hold;
  }

  /**
   * Gives a busy environment its new size now, before resize() (the router's next decisions must see
   * the capacity as taken); returns the old size, for resize() to restore if the backend cannot.
   */
  reserve(env: EnvironmentView, resources: ResourceVector): ResourceVector {
    const before = env.spec.resources;
    this.setSize(env, resources);
    return before;
  }

  /**
   * Grows or shrinks an environment's limits in place; false if the backend cannot (caller replaces
   * it), the size then being `restore` if given (see reserve).
   */
  async resize(env: EnvironmentView, resources: ResourceVector, restore?: ResourceVector): Promise<boolean> {
    const ok = await this.backend.resize(env.id, resources).catch(() => false);
    if (ok) {
      this.setSize(env, resources);
      this.counters.resizedInPlace++;
    } else if (restore) this.setSize(env, restore);
    return ok;
  }

  /**
   * Resizes an idle environment for the plan. Until the backend is done, no task is routed to it (one
   * routed at the old size could find itself running in the new one) and what grows is held at once
   * (other starts must see that capacity as taken); what shrinks frees its room once it has.
   */
  async resizeIdle(env: EnvironmentView, resources: ResourceVector): Promise<boolean> {
    env.resizingTo = resources;
    const before = this.reserve(env, maxOf(env.spec.resources, resources));
    try {
      return await this.resize(env, resources, before);
    } finally {
      env.resizingTo = null;
      // Routable again (and what shrank freed room): tasks waiting may fit now.
      if (env.state !== "gone") this.onChange();
    }
  }

  private setSize(env: EnvironmentView, resources: ResourceVector): void {
    env.spec = { ...env.spec, resources };
    env.specKey = specKey(env.spec);
  }

  private accountIdle(env: EnvironmentView): void {
    if (env.idleSince === null) return;
    const mbMs = (this.clock.now() - env.idleSince) * env.spec.resources.memoryMb;
    env.idleMbMs += mbMs;
    this.counters.wastedMbMs += mbMs;
    env.idleSince = null;
  }

  /** Destroys an idle (or still starting) environment, recording why. Busy ones are never touched. */
  reclaim(envId: string, reason: string): boolean {
    const env = this.envs.get(envId);
    if (!env || env.state === "busy" || env.state === "gone") return false;
    this.accountIdle(env);
    env.state = "gone";
    this.envs.delete(envId);
    this.counters.reclaimed++;
    // Group by the reason's words, not its numbers and details.
    const key = reason.split(/[:(]|\d/)[0]!.trim();
    this.counters.reclaimsByReason.set(key, (this.counters.reclaimsByReason.get(key) ?? 0) + 1);
    this.onReclaim(key);
    this.log.info(
      {
        event: "reclaim",
        env: envId,
        user: env.user,
        shadow: env.shadow,
        reason,
        idleMbMs: env.idleMbMs,
        tasksRun: env.tasksRun,
      },
      "environment reclaimed",
    );
    this.track(this.backend.destroy(envId).catch(() => {}));
    this.onChange();
    return true;
  }

  /** A worker that died under a task is replaced by a fresh one of the same user and spec. */
  replaceDead(env: EnvironmentView, why: string, closing: boolean): void {
    if (env.state === "gone") return;
    env.state = "gone";
    this.envs.delete(env.id);
    this.track(this.backend.destroy(env.id).catch(() => {}));
    if (closing) return;
    const replacement = this.add(env.user, env.spec, env.shadow);
    this.counters.replaced++;
    this.log.warn(
      {
        event: "environment_replaced",
        env: env.id,
        replacement: replacement.id,
        user: env.user,
        reason: why,
      },
      "environment died under a task; replacing it",
    );
    this.track(
      this.bringUp(replacement).then((failure) => {
        if (failure !== null) {
          this.log.warn(
            { event: "replacement_failed", env: replacement.id, error: failure },
            "replacement failed",
          );
        } else if (replacement.state === "warming") {
          this.markIdle(replacement);
        }
        this.onChange();
      }),
    );
  }

  /** Forgets an environment whose worker is gone: it exited idle, or was found dead by a task's run. */
  dropDead(env: EnvironmentView, reason: string): void {
    if (env.state === "gone") return;
    this.accountIdle(env);
    env.state = "gone";
    this.envs.delete(env.id);
    this.log.warn({ event: "environment_exited", env: env.id, user: env.user, reason }, "environment exited");
    this.onChange();
  }

  private onExit(envId: string, reason: string): void {
    const env = this.envs.get(envId);
    // A busy environment's task sees the failure through run(); only idle deaths are handled here.
    if (!env || env.state === "busy") return;
    this.dropDead(env, reason);
  }

  /** The pool as the API shows it: each environment with its worker's pid where the backend has one. */
  describe(): (EnvironmentView & { pid: number | null; hardLimits: boolean })[] {
    const byId = new Map(this.backend.list().map((b) => [b.id, b]));
    return this.snapshot().environments.map((e) => ({
      ...e,
      pid: byId.get(e.id)?.pid ?? null,
      hardLimits: byId.get(e.id)?.hardLimits ?? false,
    }));
  }

  async close(): Promise<void> {
    await this.backend.close();
    this.envs.clear();
  }
}

function maxOf(a: ResourceVector, b: ResourceVector): ResourceVector {
  return {
    cpu: Math.max(a.cpu, b.cpu),
    memoryMb: Math.max(a.memoryMb, b.memoryMb),
    storageMb: Math.max(a.storageMb, b.storageMb),
    networkMbps: Math.max(a.networkMbps, b.networkMbps),
  };
}

import { type EnvironmentSpec, specKey } from "../core/types.js";
import type { EnvironmentView, PoolSnapshot } from "../pool/environment.js";
import { expiredEnvironments, routeTask } from "../route/router.js";
import { type EnvironmentPool, type KeepAliveSeconds, type PoolTotals, peakHeld } from "./env-pool.js";

const UNLIMITED = {
  cpu: Number.POSITIVE_INFINITY,
  memoryMb: Number.POSITIVE_INFINITY,
  maxEnvironments: Number.MAX_SAFE_INTEGER,
};

/**
 * M2's environment pool driven by the live router: every reuse decision is `routeTask` (the same
 * function the server calls) and every expiry is `expiredEnvironments`, over a snapshot of the app's
 * environments at the event's virtual time (seconds). An app is a user, so tenant isolation and the
 * "most recently idle first" rule come from the router itself. Capacity is unlimited, as in M2.
 */
export class RouterPool implements EnvironmentPool {
  private readonly envs: EnvironmentView[] = [];
  private readonly byApp: EnvironmentView[][];
  private readonly specs: EnvironmentSpec[];
  private readonly memEvents: number[] = [];
  private wasted = 0;

  constructor(
    private readonly memoryMb: Float64Array,
    private readonly keepAlive: KeepAliveSeconds,
  ) {
    this.byApp = Array.from({ length: memoryMb.length }, () => []);
    this.specs = Array.from(memoryMb, (m) => ({
      runtime: "node" as const,
      dependencies: [],
      resources: { cpu: 0, memoryMb: m, storageMb: 0, networkMbps: 0 },
    }));
  }

  private snapshot(app: number, t: number): PoolSnapshot {
    return { now: t, environments: this.byApp[app]!, capacity: UNLIMITED };
  }

  /** Removes environments whose keep-alive ran out before t (alive at t iff t ≤ e + ka). */
  private expire(app: number, t: number): void {
    const ka = this.keepAlive(app);
    if (!Number.isFinite(ka)) return;
    const expired = expiredEnvironments(this.snapshot(app, t), ka);
    if (expired.length === 0) return;
    const gone = new Set(expired.map((e) => e.id));
    for (const e of expired) this.destroy(e, (e.idleSince ?? 0) + ka);
    this.byApp[app] = this.byApp[app]!.filter((e) => !gone.has(e.id));
  }

  acquire(app: number, t: number): number | null {
    this.expire(app, t);
    const decision = routeTask({ user: String(app), spec: this.specs[app]! }, this.snapshot(app, t));
    if (decision.kind !== "warm") return null;
    const env = this.envs[Number(decision.environmentId)]!;
    this.wasted += (t - (env.idleSince ?? t)) * this.memoryMb[app]!;
    env.idleSince = null;
    env.state = "busy";
    return Number(env.id);
  }

  create(app: number, t: number, readyAt: number): number {
    const spec = this.specs[app]!;
    const env: EnvironmentView = {
      id: String(this.envs.length),
      user: String(app),
      spec,
      specKey: specKey(spec),
      state: "busy",
      shadow: false,
      createdAt: t,
      readyAt,
      idleSince: null,
      tasksRun: 0,
      coldStartMs: readyAt - t,
      idleMbMs: 0,
      hold: null,
    };
    this.envs.push(env);
    this.byApp[app]!.push(env);
    this.memEvents.push(t, this.memoryMb[app]!);
    return this.envs.length - 1;
  }

  release(env: number, t: number): void {
    const e = this.envs[env]!;
    e.state = "ready";
    e.idleSince = t;
    e.tasksRun++;
  }

  close(end: number): PoolTotals {
    for (let app = 0; app < this.byApp.length; app++) {
      const ka = this.keepAlive(app);
      for (const e of this.byApp[app]!) {
        if (e.state !== "ready" || e.idleSince === null) continue;
        this.destroy(e, Math.min(e.idleSince + ka, Math.max(end, e.idleSince)));
      }
    }
    return {
      environmentsCreated: this.envs.length,
      wastedMbS: this.wasted,
      peakMemoryMb: peakHeld(this.memEvents),
    };
  }

  private destroy(e: EnvironmentView, at: number): void {
    const app = Number(e.user);
    this.wasted += (at - (e.idleSince ?? at)) * this.memoryMb[app]!;
    this.memEvents.push(at, -this.memoryMb[app]!);
    e.state = "gone";
  }
}

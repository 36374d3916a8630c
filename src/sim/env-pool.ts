/**
 * The seam between the M2 event engine and whatever holds environments. The engine only asks for an
 * idle environment, creates one when there is none, and hands environments back when their task
 * ends; keep-alive, expiry and accounting live behind this interface, so the live pool and router
 * can later be driven by the same engine through an adapter.
 */
export interface EnvironmentPool {
  /**
   * An idle ready environment of `app` at time t (seconds), or null. With several idle, the most
   * recently idle one; an environment idle since e is still there at t iff t ≤ e + keep-alive.
   */
  acquire(app: number, t: number): number | null;
  /** Creates an environment for `app` at t that is ready (and busy with its task) at `readyAt`. */
  create(app: number, t: number, readyAt: number): number;
  /** The environment's task ended at t: it is idle from t. Calls come in non-decreasing t. */
  release(env: number, t: number): void;
  /** No more tasks: environments still alive count as idle up to `end`, then the totals. */
  close(end: number): PoolTotals;
}

export interface PoolTotals {
  environmentsCreated: number;
  /** Σ (time ready but idle) × memory, MB·s. */
  wastedMbS: number;
  /** Largest Σ memory of environments alive at one instant, MB. */
  peakMemoryMb: number;
}

/** Keep-alive in seconds per app (Infinity = never destroy an idle environment). */
export type KeepAliveSeconds = (app: number) => number;

/**
 * A self-contained pool for replay: idle environments per app on a stack ordered by idle time
 * (releases arrive in time order, so the top is the most recently idle and expired ones sit at the
 * bottom). Expiry is applied lazily when the app is next asked for, which gives the same answers as
 * eager expiry because each app's environments are independent.
 */
export class SimulatedPool implements EnvironmentPool {
  private readonly envApp: number[] = [];
  private readonly idleEnv: number[][];
  private readonly idleSince: number[][];
  private readonly idleHead: number[];
  /** Memory change events for the peak: (time, ±MB). */
  private readonly memEvents: number[] = [];
  private wasted = 0;

  constructor(
    private readonly memoryMb: Float64Array,
    private readonly keepAlive: KeepAliveSeconds,
  ) {
    const n = memoryMb.length;
    this.idleEnv = Array.from({ length: n }, () => []);
    this.idleSince = Array.from({ length: n }, () => []);
    this.idleHead = new Array(n).fill(0);
  }

  acquire(app: number, t: number): number | null {
    const envs = this.idleEnv[app]!;
    const since = this.idleSince[app]!;
    const ka = this.keepAlive(app);
    const mem = this.memoryMb[app]!;
    let head = this.idleHead[app]!;
    while (head < envs.length && since[head]! + ka < t) {
      this.destroy(app, since[head]!, since[head]! + ka);
      head++;
    }
    this.idleHead[app] = head;
    if (head === envs.length) {
      this.compact(app);
      return null;
    }
    const env = envs.pop()!;
    this.wasted += (t - since.pop()!) * mem;
    return env;
  }

  create(app: number, t: number, _readyAt: number): number {
    this.envApp.push(app);
    this.memEvents.push(t, this.memoryMb[app]!);
    return this.envApp.length - 1;
  }

  release(env: number, t: number): void {
    const app = this.envApp[env]!;
    this.idleEnv[app]!.push(env);
    this.idleSince[app]!.push(t);
  }

  close(end: number): PoolTotals {
    for (let app = 0; app < this.idleEnv.length; app++) {
      const since = this.idleSince[app]!;
      const ka = this.keepAlive(app);
      for (let i = this.idleHead[app]!; i < since.length; i++) {
        this.destroy(app, since[i]!, Math.min(since[i]! + ka, Math.max(end, since[i]!)));
      }
    }
    return { environmentsCreated: this.envApp.length, wastedMbS: this.wasted, peakMemoryMb: this.peak() };
  }

  private destroy(app: number, idleSince: number, at: number): void {
    this.wasted += (at - idleSince) * this.memoryMb[app]!;
    this.memEvents.push(at, -this.memoryMb[app]!);
  }

  private compact(app: number): void {
    this.idleEnv[app] = [];
    this.idleSince[app] = [];
    this.idleHead[app] = 0;
  }

  private peak(): number {
    return peakHeld(this.memEvents);
  }
}

/**
 * Largest memory held at one instant from (time, ±MB) event pairs; destructions at an instant are
 * applied before creations at that instant.
 */
export function peakHeld(ev: readonly number[]): number {
  const n = ev.length / 2;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((x, y) => ev[2 * x]! - ev[2 * y]! || ev[2 * x + 1]! - ev[2 * y + 1]!);
  let held = 0;
  let peak = 0;
  for (const i of order) {
    held += ev[2 * i + 1]!;
    peak = Math.max(peak, held);
  }
  return peak;
}

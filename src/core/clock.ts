/**
 * Time source. Decision code never reads the wall clock: it is handed `now` from a Clock,
 * so that the live server (RealClock) and replay (VirtualClock) run the same code.
 */
export interface Clock {
  /** Milliseconds since the epoch (real) or since the start of a replay (virtual). */
  now(): number;
}

export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
}

/** A clock that only moves when told to. */
export class VirtualClock implements Clock {
  private t: number;
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  set(t: number): void {
    if (t < this.t) throw new Error(`VirtualClock cannot go back from ${this.t} to ${t}`);
    this.t = t;
  }
  advance(ms: number): void {
    this.set(this.t + ms);
  }
}

/** Wall time sped up by `scale` from `origin`: lets live tests run minutes of schedule in seconds. */
export class ScaledClock implements Clock {
  private readonly realStart = Date.now();
  constructor(
    private readonly scale: number,
    private readonly origin = Date.now(),
  ) {}
  /** Whole milliseconds, like the real clock: the stores keep times as integers (PostgreSQL bigint). */
  now(): number {
    return Math.floor(this.origin + (Date.now() - this.realStart) * this.scale);
  }
}

/** Resolves on a later turn of the event loop: long work in slices lets requests be served between. */
export const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

import { MinHeap } from "../core/min-heap.js";
import type { EnvironmentPool } from "./env-pool.js";
import type { GoalStanding } from "./goal.js";
import { percentile } from "./percentile.js";
import type { EventTrace } from "./trace.js";

/** Scores of one policy under model M2 (design.md, "Model M2"). */
export interface M2Score {
  name: string;
  invocations: number;
  coldStarts: number;
  warm: number;
  coldPct: number;
  environmentsCreated: number;
  wastedMbS: number;
  peakMemoryMb: number;
  /** Seconds from arrival to start of execution. */
  startLatency: { p50: number; p90: number; p99: number; max: number };
  /** Cold starts − the M2 oracle's (m2-oracle.ts); filled in by the runner when it has hybrid to hold runs against. */
  avoidableColdStarts?: number;
  /** Against issue 7's goal in M2 terms (hybrid's avoidable cold starts and wasted MB·s). */
  goal?: GoalStanding;
  /** The run saw the future (the oracle): a bound, not a policy. */
  bound?: boolean;
}

export interface M2Options {
  /** Cold-start latency L in seconds (design.md: 0 for accounting). */
  coldStartSeconds?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Event replay: one task per environment. Arrivals are taken in trace order (the trace is sorted by
 * start, ties in trace order); every task end at or before an arrival's instant is applied first, so
 * an environment freed at t serves an arrival at t. Keep-alive and reuse live in the pool.
 */
export function runM2(
  trace: EventTrace,
  name: string,
  pool: EnvironmentPool,
  options: M2Options = {},
): M2Score {
  const latencyL = options.coldStartSeconds ?? 0;
  const ends = new MinHeap();
  const total = trace.app.length;
  const latency = new Float64Array(total);
  let cold = 0;
  let horizon = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < total; i++) {
    const t = trace.start[i]!;
    const app = trace.app[i]!;
    while (ends.size > 0 && ends.peekKey() <= t) {
      const endAt = ends.peekKey();
      pool.release(ends.pop(), endAt);
    }
    let env = pool.acquire(app, t);
    let begin = t;
    if (env === null) {
      cold++;
      begin = t + latencyL;
      env = pool.create(app, t, begin);
    }
    latency[i] = begin - t;
    const end = begin + trace.duration[i]!;
    horizon = Math.max(horizon, t + trace.duration[i]! + latencyL);
    ends.push(end, i, env);
    if (options.onProgress && (i + 1) % 65536 === 0) options.onProgress(i + 1, total);
  }
  while (ends.size > 0) {
    const endAt = ends.peekKey();
    pool.release(ends.pop(), endAt);
  }
  // End of the trace = the last task's end, taken as max(start + duration) + L whether or not that task
  // ran warm: the same horizon for every policy run with this L (a policy must not lengthen its own
  // accounting window by making the last task cold). This reproduces the README's L = 1 s row.
  return m2Score(name, cold, latency, pool.close(horizon));
}

/**
 * A run's score from its cold starts, every task's start latency (seconds, in any order: sorted here)
 * and the totals of its environments.
 */
export function m2Score(
  name: string,
  cold: number,
  latency: Float64Array,
  totals: { environmentsCreated: number; wastedMbS: number; peakMemoryMb: number },
): M2Score {
  const total = latency.length;
  latency.sort();
  return {
    name,
    invocations: total,
    coldStarts: cold,
    warm: total - cold,
    coldPct: total === 0 ? 0 : (100 * cold) / total,
    environmentsCreated: totals.environmentsCreated,
    wastedMbS: totals.wastedMbS,
    peakMemoryMb: totals.peakMemoryMb,
    startLatency: {
      p50: percentile(latency, 50),
      p90: percentile(latency, 90),
      p99: percentile(latency, 99),
      max: total === 0 ? Number.NaN : latency[total - 1]!,
    },
  };
}

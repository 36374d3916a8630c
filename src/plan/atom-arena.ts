/**
 * Atom buffers of the pooled priors (gap-pool.ts, pooled-gaps.ts) carved from shared 64 kB buffers.
 * Each `new Float64Array(n)` of ~150 doubles paid for its own backing store: ~9k of them per week of
 * Google were ~4 % of the replay (issue 7). These buffers live as long as their pool and are recycled
 * by it, so a chunk held alive by a few of them wastes little; short-lived atoms keep emptyAtoms.
 */
import type { GapAtoms } from "./idle-distribution.js";

const CHUNK = 8192;
let chunk = new ArrayBuffer(CHUNK * 8);
let used = 0;

/** n zeroed doubles (larger requests get a buffer of their own). */
function doubles(n: number): Float64Array {
  if (n > CHUNK / 8) return new Float64Array(n);
  if (used + n > CHUNK) {
    chunk = new ArrayBuffer(CHUNK * 8);
    used = 0;
  }
  const a = new Float64Array(chunk, used * 8, n);
  used += n;
  return a;
}

/** emptyAtoms(capacity) over arena buffers. */
export function arenaAtoms(capacity: number): GapAtoms {
  return { size: 0, gap: doubles(capacity), prob: doubles(capacity), tail: 1 };
}

/** reserveAtoms(a, capacity) over arena buffers: grows (keeping the content) to hold `capacity`. */
export function reserveArenaAtoms(a: GapAtoms, capacity: number): void {
  if (a.gap.length >= capacity) return;
  const n = Math.max(capacity, 2 * a.gap.length);
  const gap = doubles(n);
  const prob = doubles(n);
  gap.set(a.gap.subarray(0, a.size));
  prob.set(a.prob.subarray(0, a.size));
  a.gap = gap;
  a.prob = prob;
}

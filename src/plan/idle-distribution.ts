/**
 * The distribution of the gap between an app's busy minutes (gap = t2 − t ≥ 1 minute) as atoms, and
 * the settings of the incremental gap histogram: the renewal histogram of InterArrivalForecaster
 * (1-minute bins up to `range`, longer gaps kept as out-of-range mass) with optional exponential
 * forgetting and a change detector. The learner keeps its histograms in typed-array columns
 * (histogram-slab.ts); the plain one-object version they are held to, bit for bit, lives with the
 * tests (test/plan/idle-distribution-reference.ts). Pure: no clock, minutes are arguments.
 */

/** A distribution of the gap as point masses (atoms) plus the mass beyond them (out of range or never). */
export interface GapAtoms {
  size: number;
  /** Ascending gaps (whole minutes ≥ 1) of atoms 0..size-1. */
  gap: Float64Array;
  prob: Float64Array;
  /** Probability that the next arrival is beyond every atom (out of range, or never). */
  tail: number;
}

export function emptyAtoms(capacity = 64): GapAtoms {
  return { size: 0, gap: new Float64Array(capacity), prob: new Float64Array(capacity), tail: 1 };
}

/** Grows an atom buffer (keeping its content) so that it holds `capacity` atoms. */
export function reserveAtoms(a: GapAtoms, capacity: number): void {
  if (a.gap.length >= capacity) return;
  const n = Math.max(capacity, 2 * a.gap.length);
  const gap = new Float64Array(n);
  const prob = new Float64Array(n);
  gap.set(a.gap.subarray(0, a.size));
  prob.set(a.prob.subarray(0, a.size));
  a.gap = gap;
  a.prob = prob;
}

export function atomsFrom(pairs: readonly (readonly [number, number])[], tail = 0): GapAtoms {
  const a = emptyAtoms(Math.max(1, pairs.length));
  const sorted = [...pairs].sort((x, y) => x[0] - y[0]);
  for (const [g, p] of sorted) {
    a.gap[a.size] = g;
    a.prob[a.size] = p;
    a.size++;
  }
  a.tail = tail;
  return a;
}

export interface IdleDistributionOptions {
  /** Longest gap kept in a bin, minutes; longer gaps are out-of-range mass. */
  range: number;
  /** Forgetting per observation: the weight of a gap seen n gaps ago is (1 − decay)^n. 0 = none. */
  decay: number;
  /** This many surprising gaps in a row mean the pattern changed. 0 disables change detection. */
  changeRun: number;
  /** On a detected change, the old histogram's weight is multiplied by this. */
  forget: number;
  /** A gap is surprising when the histogram holds less than this mass within a factor 2 of it. */
  surpriseMass: number;
  /** Effective samples needed before gaps can be surprising. */
  minSamplesForChange: number;
}

export const IDLE_DISTRIBUTION_DEFAULTS: IdleDistributionOptions = {
  range: 10_080,
  decay: 0,
  changeRun: 3,
  forget: 0.05,
  surpriseMass: 0.02,
  minSamplesForChange: 8,
};

/**
 * An empty array that V8 keeps as unboxed doubles (elements kind PACKED_DOUBLE) even while it holds
 * whole numbers: every histogram then has the same kind, and the hot loops that read them (the
 * mixture window, sorted.ts) stay monomorphic.
 */
export function doubleArray(): number[] {
  const a = [0.5];
  a.length = 0;
  return a;
}

/**
 * P(next busy minute = now + k | no arrival in the `idleSoFar` minutes since the last one), k = 1..H
 * (index k − 1), where now = last + idleSoFar. Returns zeros when nothing survives.
 */
export function nextArrivalGivenIdle(atoms: GapAtoms, idleSoFar: number, horizon: number): Float64Array {
  const p = new Float64Array(horizon);
  let survival = atoms.tail;
  for (let i = 0; i < atoms.size; i++) if (atoms.gap[i]! > idleSoFar) survival += atoms.prob[i]!;
  if (survival <= 1e-12) return p;
  for (let i = 0; i < atoms.size; i++) {
    const k = atoms.gap[i]! - idleSoFar;
    if (k >= 1 && k <= horizon) p[k - 1] = atoms.prob[i]! / survival;
  }
  return p;
}

/**
 * P(any arrival in minute now + k), k = 1..H, renewals included: the same quantity as
 * InterArrivalForecaster's `pAny`, so the two can be checked against each other.
 */
export function arrivalProbabilities(atoms: GapAtoms, idleSoFar: number, horizon: number): Float64Array {
  const p = nextArrivalGivenIdle(atoms, idleSoFar, horizon);
  for (let k = 0; k < horizon; k++) {
    const pk = p[k]!;
    if (pk < 1e-9) continue;
    for (let i = 0; i < atoms.size; i++) {
      const next = k + atoms.gap[i]!;
      if (next >= horizon) break;
      p[next]! += pk * atoms.prob[i]!;
    }
  }
  return p;
}

/**
 * The first-arrival distribution implied by a per-minute forecast (P(any arrival) in each minute,
 * treated as independent): how the live planner feeds any Forecaster's output to chooseWindow.
 * Atom k is the gap from `now` (minute fromMinute + k − 1 − now … expressed as minutes after now).
 */
export function atomsFromMinuteProbabilities(pAny: ArrayLike<number>, firstMinuteOffset = 1): GapAtoms {
  const a = emptyAtoms(Math.max(1, pAny.length));
  let none = 1;
  for (let k = 0; k < pAny.length; k++) {
    const q = Math.min(1, Math.max(0, pAny[k]!));
    const p = none * q;
    if (p > 0) {
      a.gap[a.size] = firstMinuteOffset + k;
      a.prob[a.size] = p;
      a.size++;
    }
    none *= 1 - q;
  }
  a.tail = none;
  return a;
}

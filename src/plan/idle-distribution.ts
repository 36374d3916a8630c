/**
 * Per-app distribution of the gap between busy minutes (gap = t2 − t ≥ 1 minute), kept incrementally.
 * It is the renewal histogram of InterArrivalForecaster (1-minute bins up to `range`, longer gaps kept
 * as out-of-range mass) in incremental form, with optional exponential forgetting and a change
 * detector, plus a pooled prior for apps with little history. Pure: no clock, minutes are arguments.
 *
 * Bins are stored sparsely (sorted distinct gaps): most apps have few distinct gaps, so a week-long
 * range costs nothing and window choice runs over the populated bins only.
 */

import { insertAt, lowerBound } from "../core/sorted.js";

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

/** Renormalise weights when the running scale gets this large (keeps floats far from overflow). */
const RESCALE_AT = 1e100;

/**
 * Incremental gap histogram of one app. Forgetting is O(1): instead of multiplying every bin by
 * (1 − decay) at each gap, the next gap's weight grows by 1/(1 − decay); probabilities are ratios.
 */
export class IdleDistribution {
  private readonly gaps: number[] = doubleArray();
  private readonly weights: number[] = doubleArray();
  private inRange = 0;
  private outOfRange = 0;
  /** Σ weight × log(gap), for the typical (geometric mean) gap. */
  private logWeighted = 0;
  /** Weight of the next observation; effective samples = total weight / scale. */
  private scale = 1;
  private surpriseRun = 0;
  /** The current run of surprising gaps and their weights (allocated at the first one). */
  private recent: number[] | undefined;
  private recentWeight: number[] | undefined;
  /** Gaps observed (raw count). */
  observations = 0;
  /** Detected pattern changes. */
  changes = 0;

  constructor(readonly options: IdleDistributionOptions = IDLE_DISTRIBUTION_DEFAULTS) {}

  /** Effective number of samples (the decayed total weight). */
  effectiveSamples(): number {
    return (this.inRange + this.outOfRange) / this.scale;
  }

  /** Geometric mean of the gaps seen (weighted like the histogram); NaN before any. */
  typicalGap(): number {
    const total = this.inRange + this.outOfRange;
    return total > 0 ? Math.exp(this.logWeighted / total) : Number.NaN;
  }

  /** Total (scaled) weight: probabilities are weight / total. */
  totalWeight(): number {
    return this.inRange + this.outOfRange;
  }

  /** Weight the next observation gets (effective samples = total weight / scale). */
  scaleNow(): number {
    return this.scale;
  }

  /** Populated bins (ascending gaps) and their scaled weights; read-only outside (mixture-window.ts). */
  get gapList(): readonly number[] {
    return this.gaps;
  }

  get weightList(): readonly number[] {
    return this.weights;
  }

  /** Distinct populated bins. */
  bins(): number {
    return this.gaps.length;
  }

  /** Records one gap (minutes between consecutive busy minutes, ≥ 1). */
  add(gap: number): void {
    const o = this.options;
    if (o.changeRun > 0) this.detectChange(gap);
    this.put(gap, this.scale);
    this.observations++;
    if (o.decay > 0) {
      this.scale /= 1 - o.decay;
      if (this.scale > RESCALE_AT) this.rescale();
    }
  }

  /** Probability of each populated bin and the out-of-range mass, written into `out`. */
  toAtoms(out: GapAtoms): GapAtoms {
    const total = this.inRange + this.outOfRange;
    const n = this.gaps.length;
    reserveAtoms(out, n);
    out.size = n;
    out.tail = total > 0 ? this.outOfRange / total : 1;
    for (let i = 0; i < n; i++) {
      out.gap[i] = this.gaps[i]!;
      out.prob[i] = this.weights[i]! / total;
    }
    return out;
  }

  /**
   * Posterior predictive with a prior: (own weights + priorWeight × prior) / (samples + priorWeight),
   * merged into `out`. The prior is dropped when it would carry under `negligible` of the mass.
   */
  mixInto(out: GapAtoms, prior: GapAtoms | undefined, priorWeight: number, negligible = 1e-3): GapAtoms {
    const own = this.effectiveSamples();
    const w = prior && priorWeight > 0 ? priorWeight : 0;
    if (w === 0 || w / (own + w) < negligible) return this.toAtoms(out);
    const p = prior!;
    const denom = own + w;
    const ownScale = own > 0 ? 1 / (this.scale * denom) : 0;
    const priorScale = w / denom;
    const n = this.gaps.length;
    reserveAtoms(out, n + p.size);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < n || j < p.size) {
      const gi = i < n ? this.gaps[i]! : Number.POSITIVE_INFINITY;
      const gj = j < p.size ? p.gap[j]! : Number.POSITIVE_INFINITY;
      if (gi < gj) {
        out.gap[k] = gi;
        out.prob[k++] = this.weights[i++]! * ownScale;
      } else if (gj < gi) {
        out.gap[k] = gj;
        out.prob[k++] = p.prob[j++]! * priorScale;
      } else {
        out.gap[k] = gi;
        out.prob[k++] = this.weights[i++]! * ownScale + p.prob[j++]! * priorScale;
      }
    }
    out.size = k;
    out.tail = this.outOfRange * ownScale + p.tail * priorScale;
    return out;
  }

  /**
   * (own weights + baseWeight × base) / (samples + baseWeight) where `base` is already a distribution
   * (e.g. the app's unconditional mixture, when this histogram is conditioned on the previous gap).
   * Writes into `out`, which must not be `base`.
   */
  shrinkTowards(out: GapAtoms, base: GapAtoms, baseWeight: number): GapAtoms {
    return this.mixInto(out, base, baseWeight, 0);
  }

  private put(gap: number, weight: number): void {
    this.logWeighted += weight * Math.log(gap);
    if (gap > this.options.range) {
      this.outOfRange += weight;
      return;
    }
    this.inRange += weight;
    const i = lowerBound(this.gaps, gap);
    if (this.gaps[i] === gap) this.weights[i]! += weight;
    else {
      insertAt(this.gaps, i, gap);
      insertAt(this.weights, i, weight);
    }
  }

  /**
   * Run-of-outliers detector: a gap is surprising when the histogram holds under `surpriseMass` within
   * a factor 2 of it. `changeRun` surprising gaps in a row down-weight the old histogram by `forget`
   * and give the gaps of the run full weight, so the new pattern takes over at once.
   */
  private detectChange(gap: number): void {
    const o = this.options;
    const total = this.inRange + this.outOfRange;
    if (total / this.scale < o.minSamplesForChange) return;
    let near = 0;
    if (gap > o.range) near = this.outOfRange;
    else {
      for (let i = lowerBound(this.gaps, Math.ceil(gap / 2)); i < this.gaps.length; i++) {
        if (this.gaps[i]! > 2 * gap) break;
        near += this.weights[i]!;
      }
      if (2 * gap > o.range) near += this.outOfRange;
    }
    // The run so far is the candidate new pattern: it must not vouch for its own members.
    let recent = this.recent;
    let recentWeight = this.recentWeight;
    const run = recent ? recent.length : 0;
    for (let i = 0; i < run; i++) {
      const r = recent![i]!;
      if (gap > o.range ? r > o.range : r >= Math.ceil(gap / 2) && r <= 2 * gap) near -= recentWeight![i]!;
    }
    if (near / total >= o.surpriseMass) {
      this.surpriseRun = 0;
      if (recent) recent.length = 0;
      if (recentWeight) recentWeight.length = 0;
      return;
    }
    this.surpriseRun++;
    if (!recent || !recentWeight) {
      recent = this.recent = doubleArray();
      recentWeight = this.recentWeight = doubleArray();
    }
    recent.push(gap);
    recentWeight.push(this.scale);
    if (this.surpriseRun < o.changeRun) return;
    const before = this.scale;
    this.scale /= o.forget;
    // The run's gaps were added with the old weight; top them up to the new one.
    // (The last one is the gap being added now, which `add` puts with the new weight.)
    for (let i = 0; i + 1 < recent.length; i++) this.put(recent[i]!, this.scale - before);
    this.changes++;
    this.surpriseRun = 0;
    recent.length = 0;
    recentWeight.length = 0;
    if (this.scale > RESCALE_AT) this.rescale();
  }

  private rescale(): void {
    const s = this.scale;
    for (let i = 0; i < this.weights.length; i++) this.weights[i]! /= s;
    this.inRange /= s;
    this.outOfRange /= s;
    this.logWeighted /= s;
    const rw = this.recentWeight;
    if (rw) for (let i = 0; i < rw.length; i++) rw[i]! /= s;
    this.scale = 1;
  }
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

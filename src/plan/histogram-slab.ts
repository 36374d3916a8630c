/**
 * Many gap histograms in typed arrays, one per integer id: the forewarm learner's per-app state
 * (issue 7); the plain one-object form is the tests' reference (test/plan/idle-distribution-reference.ts). With one object and two growing arrays per app, the
 * ~32k histograms of a week of Google were copied by every young-generation collection that found
 * them alive; here the state lives in a few columns and one shared pool of bin slots.
 *
 * Same arithmetic, in the same order, as the reference's IdleDistribution.add
 * (test/plan/histogram-slab.test.ts checks every field on random gap sequences).
 *
 * Bins of histogram `id` are pool entries start[id] … start[id] + len[id] − 1 (ascending gaps) of a
 * slot of cap[id] entries, a power of two; a full slot moves to one twice its size and the old one
 * goes to a free list of its size, which later histograms reuse.
 */
import { IDLE_DISTRIBUTION_DEFAULTS, type IdleDistributionOptions } from "./idle-distribution.js";

/** Renormalise weights when the running scale gets this large (as IdleDistribution). */
const RESCALE_AT = 1e100;
/** Entries of a histogram's first slot. */
const FIRST_SLOT = 4;

export class HistogramSlab {
  /** Histograms created (ids 0 … size − 1). */
  size = 0;
  // Columns, by id.
  inRange: Float64Array;
  outOfRange: Float64Array;
  /** Σ weight × log(gap), for the typical (geometric mean) gap. */
  logWeighted: Float64Array;
  /** Weight of the next observation (effective samples = total weight / scale). */
  scale: Float64Array;
  /** Gaps observed (raw count). */
  observations: Float64Array;
  /** Detected pattern changes. */
  changes: Float64Array;
  /** Length of the current run of surprising gaps (its gaps and weights: recentGap, recentWeight). */
  surpriseRun: Int32Array;
  start: Int32Array;
  len: Int32Array;
  cap: Int32Array;
  // The bin pool, and the current run of surprising gaps (changeRun entries per id).
  gap: Float64Array;
  weight: Float64Array;
  private top = 0;
  private readonly free: number[][] = [];
  private recentGap: Float64Array;
  private recentWeight: Float64Array;

  constructor(
    readonly options: IdleDistributionOptions = IDLE_DISTRIBUTION_DEFAULTS,
    capacity = 64,
  ) {
    const n = Math.max(1, capacity);
    this.inRange = new Float64Array(n);
    this.outOfRange = new Float64Array(n);
    this.logWeighted = new Float64Array(n);
    this.scale = new Float64Array(n).fill(1);
    this.observations = new Float64Array(n);
    this.changes = new Float64Array(n);
    this.surpriseRun = new Int32Array(n);
    this.start = new Int32Array(n);
    this.len = new Int32Array(n);
    this.cap = new Int32Array(n);
    this.gap = new Float64Array(FIRST_SLOT * n);
    this.weight = new Float64Array(FIRST_SLOT * n);
    this.recentGap = new Float64Array(options.changeRun * n);
    this.recentWeight = new Float64Array(options.changeRun * n);
  }

  /** A new, empty histogram; its id. */
  create(): number {
    if (this.size === this.scale.length) this.growColumns(2 * this.size);
    return this.size++;
  }

  /** Makes ids 0 … n − 1 exist (e.g. one per app). */
  createUpTo(n: number): void {
    if (n > this.scale.length) this.growColumns(n);
    if (n > this.size) this.size = n;
  }

  effectiveSamples(id: number): number {
    return (this.inRange[id]! + this.outOfRange[id]!) / this.scale[id]!;
  }

  /** Geometric mean of the gaps seen (weighted like the histogram); NaN before any. */
  typicalGap(id: number): number {
    const total = this.inRange[id]! + this.outOfRange[id]!;
    return total > 0 ? Math.exp(this.logWeighted[id]! / total) : Number.NaN;
  }

  totalWeight(id: number): number {
    return this.inRange[id]! + this.outOfRange[id]!;
  }

  /** Share of histogram `id`'s weight on gaps in [lo, hi] (its out-of-range weight when hi is past the range). */
  massIn(id: number, lo: number, hi: number): number {
    const total = this.inRange[id]! + this.outOfRange[id]!;
    if (!(total > 0)) return 0;
    let mass = hi > this.options.range ? this.outOfRange[id]! : 0;
    const s = this.start[id]!;
    const end = s + this.len[id]!;
    for (let i = this.lowerBound(s, end, lo); i < end && this.gap[i]! <= hi; i++) mass += this.weight[i]!;
    return mass / total;
  }

  /** Records one gap of histogram `id` (IdleDistribution.add). */
  add(id: number, gap: number): void {
    const o = this.options;
    if (o.changeRun > 0) this.detectChange(id, gap);
    this.put(id, gap, this.scale[id]!);
    this.observations[id]!++;
    if (o.decay > 0) {
      this.scale[id]! /= 1 - o.decay;
      if (this.scale[id]! > RESCALE_AT) this.rescale(id);
    }
  }

  private put(id: number, gap: number, weight: number): void {
    this.logWeighted[id]! += weight * Math.log(gap);
    if (gap > this.options.range) {
      this.outOfRange[id]! += weight;
      return;
    }
    this.inRange[id]! += weight;
    const s = this.start[id]!;
    const n = this.len[id]!;
    const i = this.lowerBound(s, s + n, gap);
    if (i < s + n && this.gap[i] === gap) {
      this.weight[i]! += weight;
      return;
    }
    if (n === this.cap[id]) this.moveToLargerSlot(id);
    // Shift the bins above i up by one (start may have moved).
    const at = this.start[id]! + (i - s);
    const g = this.gap;
    const w = this.weight;
    for (let k = this.start[id]! + n; k > at; k--) {
      g[k] = g[k - 1]!;
      w[k] = w[k - 1]!;
    }
    g[at] = gap;
    w[at] = weight;
    this.len[id] = n + 1;
  }

  /** First pool index in [lo, hi) whose gap is ≥ x. */
  private lowerBound(lo: number, hi: number, x: number): number {
    const g = this.gap;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (g[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Run-of-outliers detector, as IdleDistribution.detectChange. */
  private detectChange(id: number, gap: number): void {
    const o = this.options;
    const total = this.inRange[id]! + this.outOfRange[id]!;
    if (total / this.scale[id]! < o.minSamplesForChange) return;
    let near = 0;
    if (gap > o.range) near = this.outOfRange[id]!;
    else {
      const s = this.start[id]!;
      const end = s + this.len[id]!;
      for (let i = this.lowerBound(s, end, Math.ceil(gap / 2)); i < end; i++) {
        if (this.gap[i]! > 2 * gap) break;
        near += this.weight[i]!;
      }
      if (2 * gap > o.range) near += this.outOfRange[id]!;
    }
    // The run so far is the candidate new pattern: it must not vouch for its own members.
    const base = id * o.changeRun;
    const rg = this.recentGap;
    const rw = this.recentWeight;
    const run = this.surpriseRun[id]!;
    for (let i = 0; i < run; i++) {
      const r = rg[base + i]!;
      if (gap > o.range ? r > o.range : r >= Math.ceil(gap / 2) && r <= 2 * gap) near -= rw[base + i]!;
    }
    if (near / total >= o.surpriseMass) {
      this.surpriseRun[id] = 0;
      return;
    }
    rg[base + run] = gap;
    rw[base + run] = this.scale[id]!;
    this.surpriseRun[id] = run + 1;
    if (run + 1 < o.changeRun) return;
    const before = this.scale[id]!;
    this.scale[id] = before / o.forget;
    // The run's gaps were added with the old weight; top them up to the new one.
    // (The last one is the gap being added now, which `add` puts with the new weight.)
    for (let i = 0; i < run; i++) this.put(id, rg[base + i]!, this.scale[id]! - before);
    this.changes[id]!++;
    this.surpriseRun[id] = 0;
    if (this.scale[id]! > RESCALE_AT) this.rescale(id);
  }

  private rescale(id: number): void {
    const s = this.scale[id]!;
    const from = this.start[id]!;
    const end = from + this.len[id]!;
    for (let i = from; i < end; i++) this.weight[i]! /= s;
    this.inRange[id]! /= s;
    this.outOfRange[id]! /= s;
    this.logWeighted[id]! /= s;
    const base = id * this.options.changeRun;
    const run = this.surpriseRun[id]!;
    for (let i = 0; i < run; i++) this.recentWeight[base + i]! /= s;
    this.scale[id] = 1;
  }

  /** Gives histogram `id` a slot twice as large (the first: FIRST_SLOT), keeping its bins. */
  private moveToLargerSlot(id: number): void {
    const old = this.cap[id]!;
    const size = old === 0 ? FIRST_SLOT : 2 * old;
    const to = this.allocate(size);
    const from = this.start[id]!;
    const n = this.len[id]!;
    this.gap.copyWithin(to, from, from + n);
    this.weight.copyWithin(to, from, from + n);
    if (old > 0) this.freeList(old).push(from);
    this.start[id] = to;
    this.cap[id] = size;
  }

  private allocate(size: number): number {
    const list = this.freeList(size);
    if (list.length > 0) return list.pop()!;
    if (this.top + size > this.gap.length) {
      const n = Math.max(2 * this.gap.length, this.top + size);
      const g = new Float64Array(n);
      const w = new Float64Array(n);
      g.set(this.gap.subarray(0, this.top));
      w.set(this.weight.subarray(0, this.top));
      this.gap = g;
      this.weight = w;
    }
    const at = this.top;
    this.top += size;
    return at;
  }

  private freeList(size: number): number[] {
    const k = 31 - Math.clz32(size);
    while (this.free.length <= k) this.free.push([]);
    return this.free[k]!;
  }

  private growColumns(capacity: number): void {
    const grow = <T extends Float64Array | Int32Array>(a: T, fill = 0): T => {
      const b = new (a.constructor as { new (n: number): T })(capacity);
      b.set(a);
      if (fill !== 0) b.fill(fill, a.length);
      return b;
    };
    this.inRange = grow(this.inRange);
    this.outOfRange = grow(this.outOfRange);
    this.logWeighted = grow(this.logWeighted);
    this.scale = grow(this.scale, 1);
    this.observations = grow(this.observations);
    this.changes = grow(this.changes);
    this.surpriseRun = grow(this.surpriseRun);
    this.start = grow(this.start);
    this.len = grow(this.len);
    this.cap = grow(this.cap);
    const r = this.options.changeRun;
    const rg = new Float64Array(r * capacity);
    const rw = new Float64Array(r * capacity);
    rg.set(this.recentGap);
    rw.set(this.recentWeight);
    this.recentGap = rg;
    this.recentWeight = rw;
  }
}

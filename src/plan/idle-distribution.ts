/**
 * Per-app distribution of the gap between busy minutes (gap = t2 − t ≥ 1 minute), kept incrementally.
 * It is the renewal histogram of InterArrivalForecaster (1-minute bins up to `range`, longer gaps kept
 * as out-of-range mass) in incremental form, with optional exponential forgetting and a change
 * detector, plus a pooled prior for apps with little history. Pure: no clock, minutes are arguments.
 *
 * Bins are stored sparsely (sorted distinct gaps): most apps have few distinct gaps, so a week-long
 * range costs nothing and window choice runs over the populated bins only.
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

/** Renormalise weights when the running scale gets this large (keeps floats far from overflow). */
const RESCALE_AT = 1e100;

/**
 * Incremental gap histogram of one app. Forgetting is O(1): instead of multiplying every bin by
 * (1 − decay) at each gap, the next gap's weight grows by 1/(1 − decay); probabilities are ratios.
 */
export class IdleDistribution {
  private gaps: number[] = [];
  private weights: number[] = [];
  private inRange = 0;
  private outOfRange = 0;
  /** Σ weight × log(gap), for the typical (geometric mean) gap. */
  private logWeighted = 0;
  /** Weight of the next observation; effective samples = total weight / scale. */
  private scale = 1;
  private surpriseRun = 0;
  private readonly recent: number[] = [];
  private readonly recentWeight: number[] = [];
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
      this.gaps.splice(i, 0, gap);
      this.weights.splice(i, 0, weight);
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
    for (let i = 0; i < this.recent.length; i++) {
      const r = this.recent[i]!;
      if (gap > o.range ? r > o.range : r >= Math.ceil(gap / 2) && r <= 2 * gap)
        near -= this.recentWeight[i]!;
    }
    if (near / total >= o.surpriseMass) {
      this.surpriseRun = 0;
      this.recent.length = 0;
      this.recentWeight.length = 0;
      return;
    }
    this.surpriseRun++;
    this.recent.push(gap);
    this.recentWeight.push(this.scale);
    if (this.surpriseRun < o.changeRun) return;
    const before = this.scale;
    this.scale /= o.forget;
    // The run's gaps were added with the old weight; top them up to the new one.
    // (The last one is the gap being added now, which `add` puts with the new weight.)
    for (let i = 0; i + 1 < this.recent.length; i++) this.put(this.recent[i]!, this.scale - before);
    this.changes++;
    this.surpriseRun = 0;
    this.recent.length = 0;
    this.recentWeight.length = 0;
    if (this.scale > RESCALE_AT) this.rescale();
  }

  private rescale(): void {
    const s = this.scale;
    for (let i = 0; i < this.weights.length; i++) this.weights[i]! /= s;
    this.inRange /= s;
    this.outOfRange /= s;
    this.logWeighted /= s;
    for (let i = 0; i < this.recentWeight.length; i++) this.recentWeight[i]! /= s;
    this.scale = 1;
  }
}

function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

/**
 * One pooled histogram (1-minute bins) of completed gaps plus the gaps still open (apps waiting for
 * their next arrival), turned into a Kaplan–Meier estimate: early in a trace only short gaps have had
 * time to complete, and counting completed gaps alone would say every app comes back within minutes.
 * Its compact atoms are rebuilt when the pool has grown, or time has moved, by an eighth.
 */
class DensePool {
  readonly counts: Float64Array;
  out = 0;
  total = 0;
  private maxGap = 0;
  /** Open gaps by the minute they started (the app's last busy minute). */
  private readonly open = new Map<number, number>();
  private openCount = 0;
  private created = Number.NaN;
  private atoms: GapAtoms | undefined;
  private builtTotal = 0;
  private builtAt = 0;

  constructor(readonly range: number) {
    this.counts = new Float64Array(range + 1);
  }

  enter(last: number): void {
    if (Number.isNaN(this.created)) this.created = last;
    this.open.set(last, (this.open.get(last) ?? 0) + 1);
    this.openCount++;
  }

  complete(last: number, gap: number): void {
    const n = this.open.get(last);
    if (n !== undefined) {
      if (n <= 1) this.open.delete(last);
      else this.open.set(last, n - 1);
      this.openCount--;
    }
    if (gap > this.range) this.out += 1;
    else {
      this.counts[gap]! += 1;
      if (gap > this.maxGap) this.maxGap = gap;
    }
    this.total += 1;
  }

  /** Samples behind the estimate (completed and open gaps). */
  size(): number {
    return this.total + this.openCount;
  }

  /** Exact 1-minute bins up to `exactUpTo`, then groups growing by `ratio`, each at its mean. */
  compact(now: number, exactUpTo: number, ratio: number): GapAtoms {
    const age = now - this.created;
    if (this.atoms && this.total < this.builtTotal * 1.125 + 16 && now - this.builtAt < Math.max(15, age / 8))
      return this.atoms;
    const horizon = Math.min(this.range, Math.max(this.maxGap, age));
    // An open gap is at least now − last (an earlier arrival would have been seen): at risk up to there.
    const openAtLeast = new Float64Array(horizon + 2);
    for (const [last, n] of this.open) openAtLeast[Math.min(horizon + 1, Math.max(0, now - last))]! += n;
    for (let g = horizon; g >= 0; g--) openAtLeast[g]! += openAtLeast[g + 1]!;
    const c = this.counts;
    let completedAtLeast = this.total;
    let survival = 1;
    const a = emptyAtoms(128);
    let lo = 1;
    while (lo <= horizon) {
      const hi = lo <= exactUpTo ? lo : Math.min(horizon, Math.floor(lo * ratio));
      let mass = 0;
      let moment = 0;
      for (let g = lo; g <= hi; g++) {
        const atRisk = completedAtLeast + openAtLeast[g]!;
        const d = c[g]!;
        completedAtLeast -= d;
        if (d === 0 || atRisk <= 0) continue;
        const p = (survival * d) / atRisk;
        survival -= p;
        mass += p;
        moment += g * p;
      }
      if (mass > 0) {
        reserveAtoms(a, a.size + 1);
        a.gap[a.size] = Math.round(moment / mass);
        a.prob[a.size] = mass;
        a.size++;
      }
      lo = hi + 1;
    }
    a.tail = Math.max(0, survival);
    // Beyond what the pool has had time to see, the gap is unknown, not "never": spread the
    // remaining mass log-uniformly up to the range (scale-free ignorance).
    if (horizon < this.range && a.tail > 0) spreadLogUniform(a, horizon, this.range, a.tail);
    this.atoms = a;
    this.builtTotal = this.total;
    this.builtAt = now;
    return a;
  }
}

/**
 * Gaps pooled over all apps, by what little an app has shown so far: its history length (stage) and
 * the scale of its gaps (geometric mean, in half-octaves). An app whose first two gaps were 3 and 4
 * minutes gets the next-gap distribution of other apps that started like that, not the gap-1 mass of
 * busy apps. A bucket with too little data falls back to its whole stage, then to earlier stages, then
 * to a log-uniform default over the range (the trace's very first decisions). Callers report each app's
 * open gap (`enter`) and its completion (`complete`) with the same (gapsSeen, typicalGap, last).
 */
export class PooledGaps {
  private readonly pools = new Map<number, DensePool>();
  private readonly fallback: GapAtoms;

  constructor(
    readonly range: number,
    readonly stageLimits: readonly number[] = [0, 1, 2, 4, 8],
    readonly minPoolSize = 30,
    readonly exactUpTo = 32,
    readonly groupRatio = 1.1,
  ) {
    this.fallback = logUniformAtoms(range);
  }

  /** Stage of an app that has seen `gapsSeen` gaps: the last limit not above it. */
  stage(gapsSeen: number): number {
    const l = this.stageLimits;
    let s = 0;
    while (s + 1 < l.length && l[s + 1]! <= gapsSeen) s++;
    return s;
  }

  /** An app with `gapsSeen` gaps of typical size `typicalGap` was busy at `last` and now waits. */
  enter(gapsSeen: number, typicalGap: number, last: number): void {
    const s = this.stage(gapsSeen);
    this.pool(s * 64 + 63).enter(last);
    if (gapsSeen > 0) this.pool(s * 64 + scaleBucket(typicalGap)).enter(last);
  }

  /** That app's wait ended after `gap` minutes (same gapsSeen, typicalGap and last as `enter`). */
  complete(gapsSeen: number, typicalGap: number, last: number, gap: number): void {
    const s = this.stage(gapsSeen);
    this.pool(s * 64 + 63).complete(last, gap);
    if (gapsSeen > 0) this.pool(s * 64 + scaleBucket(typicalGap)).complete(last, gap);
  }

  /** The prior at minute `now` for an app with `gapsSeen` gaps of typical size `typicalGap`. */
  prior(now: number, gapsSeen: number, typicalGap: number): GapAtoms {
    const s = this.stage(gapsSeen);
    if (gapsSeen > 0) {
      const bucket = this.pools.get(s * 64 + scaleBucket(typicalGap));
      if (bucket && bucket.total >= this.minPoolSize)
        return bucket.compact(now, this.exactUpTo, this.groupRatio);
    }
    for (let k = s; k >= 0; k--) {
      const whole = this.pools.get(k * 64 + 63);
      if (whole && whole.total >= this.minPoolSize)
        return whole.compact(now, this.exactUpTo, this.groupRatio);
    }
    return this.fallback;
  }

  private pool(key: number): DensePool {
    let p = this.pools.get(key);
    if (!p) {
      p = new DensePool(this.range);
      this.pools.set(key, p);
    }
    return p;
  }
}

/** Half-octave bucket of a gap scale (0…62). */
function scaleBucket(typicalGap: number): number {
  return Math.max(0, Math.min(62, Math.round(2 * Math.log2(Math.max(1, typicalGap)))));
}

/** Equal mass per octave up to the range: "no idea of the scale". */
function logUniformAtoms(range: number): GapAtoms {
  const a = emptyAtoms(64);
  spreadLogUniform(a, 0, range, 1);
  return a;
}

/** Moves `mass` of the tail onto atoms in (after, range], log-uniformly (groups growing by 1.25). */
function spreadLogUniform(a: GapAtoms, after: number, range: number, mass: number): void {
  const from = after + 1;
  const total = Math.log(range + 1) - Math.log(from);
  if (!(total > 0)) return;
  let lo = from;
  while (lo <= range) {
    const hi = Math.min(range, Math.max(lo, Math.floor(lo * 1.25)));
    reserveAtoms(a, a.size + 1);
    a.gap[a.size] = Math.round(Math.sqrt(lo * hi));
    a.prob[a.size] = (mass * (Math.log(hi + 1) - Math.log(lo))) / total;
    a.size++;
    lo = hi + 1;
  }
  a.tail -= mass;
  if (a.tail < 1e-12) a.tail = 0;
}

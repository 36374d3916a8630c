/**
 * The reference gap histogram of one app: the plain, one-object form of what HistogramSlab
 * (src/plan/histogram-slab.ts) keeps for many apps in typed arrays, and of the mixtures MixtureWindow
 * (src/plan/mixture-window.ts) computes in one pass. The replay no longer runs it; the tests hold the
 * fast forms to it bit for bit, and test its behaviour (forgetting, change detection) directly.
 *
 * Bins are stored sparsely (sorted distinct gaps): most apps have few distinct gaps.
 */
import { insertAt, lowerBound } from "../../src/core/sorted.js";
import {
  doubleArray,
  type GapAtoms,
  IDLE_DISTRIBUTION_DEFAULTS,
  type IdleDistributionOptions,
  reserveAtoms,
} from "../../src/plan/idle-distribution.js";

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

/**
 * A scale-free prior: how apps' next gap relates to their previous one, pooled over all apps by history
 * stage. A clockwork timer (60, 60, 60) makes the ratio 1 common, so after one or two gaps an hourly
 * app gets a prior peaked at its own period instead of the whole population's spread of scales, and
 * its window settles at (59, 60] instead of holding an hour of memory. Pure: no clock.
 */
import { emptyAtoms, type GapAtoms, reserveAtoms } from "./idle-distribution.js";

/** Ratio bins per octave. */
const PER_OCTAVE = 32;
/** Ratios beyond 2^±OCTAVES share the end bins. */
const OCTAVES = 14;
const BINS = 2 * PER_OCTAVE * OCTAVES + 1;
/** Adjacent bins are grouped until a group holds this share of the mass (peaks stay alone). */
const GROUP_MASS = 0.01;
/** Priors kept per stage and build by `RatioPrior.prior` (previous gaps repeat: 1, 2, 5, 60 …). */
const DERIVED_KEPT = 2048;

class RatioHistogram {
  readonly counts = new Float64Array(BINS);
  total = 0;
  private builtTotal = 0;
  /** Compact groups: centre bin (fractional) and mass share. */
  centre = new Float64Array(0);
  mass = new Float64Array(0);
  /** 2^(centre's log2 ratio) of each group: the pow is paid once per rebuild, not per prior. */
  factor = new Float64Array(0);
  size = 0;
  /** Bumped on every rebuild (callers may cache what they derived from the groups). */
  version = 0;
  /** RatioPrior.prior's atoms by previous gap, for build `derivedVersion`. */
  readonly derived = new Map<number, GapAtoms>();
  derivedVersion = -1;

  add(ratioBin: number): void {
    this.counts[ratioBin]! += 1;
    this.total += 1;
  }

  groups(): { factor: Float64Array; mass: Float64Array; size: number } {
    if (this.total >= this.builtTotal * 1.125 + 8 || this.builtTotal === 0) this.rebuild();
    return this;
  }

  private rebuild(): void {
    const c = this.counts;
    const t = this.total;
    const centre: number[] = [];
    const mass: number[] = [];
    let m = 0;
    let moment = 0;
    for (let k = 0; k < BINS; k++) {
      const p = c[k]! / t;
      if (p === 0) continue;
      if (p >= GROUP_MASS) {
        if (m > 0) {
          centre.push(moment / m);
          mass.push(m);
          m = 0;
          moment = 0;
        }
        centre.push(k);
        mass.push(p);
        continue;
      }
      m += p;
      moment += k * p;
      if (m >= GROUP_MASS) {
        centre.push(moment / m);
        mass.push(m);
        m = 0;
        moment = 0;
      }
    }
    if (m > 0) {
      centre.push(moment / m);
      mass.push(m);
    }
    this.centre = Float64Array.from(centre);
    this.mass = Float64Array.from(mass);
    this.factor = new Float64Array(centre.length);
    const zero = PER_OCTAVE * OCTAVES;
    for (let i = 0; i < centre.length; i++) this.factor[i] = 2 ** ((centre[i]! - zero) / PER_OCTAVE);
    this.size = centre.length;
    this.builtTotal = t;
    this.version++;
  }
}

export class RatioPrior {
  private readonly stages: RatioHistogram[] = [];
  /** Buffers of priors dropped at a rebuild, reused by the next ones. */
  private readonly spare: GapAtoms[] = [];
  private readonly scratch = emptyAtoms(128);

  constructor(
    readonly range: number,
    readonly stageLimits: readonly number[] = [1, 2, 4, 8],
    readonly minSamples = 30,
  ) {
    for (let s = 0; s < stageLimits.length; s++) this.stages.push(new RatioHistogram());
  }

  private stage(gapsSeen: number): number {
    const l = this.stageLimits;
    let s = 0;
    while (s + 1 < l.length && l[s + 1]! <= gapsSeen) s++;
    return s;
  }

  /** An app that had seen `gapsSeen` gaps, the last of them `previous`, then waited `gap`. */
  add(gapsSeen: number, previous: number, gap: number): void {
    if (gapsSeen < this.stageLimits[0]!) return;
    this.stages[this.stage(gapsSeen)]!.add(ratioBin(previous, gap));
  }

  /**
   * The prior for the next gap of an app with `gapsSeen` gaps whose last gap was `previous`, written
   * into `out`; undefined while the stage has fewer than `minSamples` ratios.
   */
  priorInto(gapsSeen: number, previous: number, out: GapAtoms): GapAtoms | undefined {
    const h = this.histogramFor(gapsSeen);
    return h ? this.fill(h.groups(), previous, out) : undefined;
  }

  /**
   * priorInto's atoms, read-only: kept per stage until its next rebuild, since previous gaps repeat
   * (the learner asks once per decision; five in six are repeats on a week of Google).
   */
  prior(gapsSeen: number, previous: number): GapAtoms | undefined {
    const h = this.histogramFor(gapsSeen);
    if (!h) return undefined;
    const g = h.groups();
    if (h.derivedVersion !== h.version) {
      for (const a of h.derived.values()) this.spare.push(a);
      h.derived.clear();
      h.derivedVersion = h.version;
    }
    let a = h.derived.get(previous);
    if (a) return a;
    if (h.derived.size >= DERIVED_KEPT) return this.fill(g, previous, this.scratch);
    a = this.fill(g, previous, this.spare.pop() ?? emptyAtoms(g.size));
    h.derived.set(previous, a);
    return a;
  }

  private histogramFor(gapsSeen: number): RatioHistogram | undefined {
    if (gapsSeen < this.stageLimits[0]!) return undefined;
    let h = this.stages[this.stage(gapsSeen)]!;
    if (h.total < this.minSamples) {
      h = this.stages[0]!;
      if (h.total < this.minSamples) return undefined;
    }
    return h;
  }

  private fill(
    g: { factor: Float64Array; mass: Float64Array; size: number },
    previous: number,
    out: GapAtoms,
  ): GapAtoms {
    reserveAtoms(out, g.size);
    out.size = 0;
    out.tail = 0;
    for (let i = 0; i < g.size; i++) {
      const gap = Math.max(1, Math.round(previous * g.factor[i]!));
      const p = g.mass[i]!;
      if (gap > this.range) out.tail += p;
      else if (out.size > 0 && out.gap[out.size - 1] === gap) out.prob[out.size - 1]! += p;
      else {
        out.gap[out.size] = gap;
        out.prob[out.size++] = p;
      }
    }
    return out;
  }
}

function ratioBin(previous: number, gap: number): number {
  const k = Math.round(PER_OCTAVE * Math.log2(gap / previous));
  const lim = PER_OCTAVE * OCTAVES;
  return Math.max(-lim, Math.min(lim, k)) + lim;
}

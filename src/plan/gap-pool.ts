/**
 * One pool of gaps (pooled-gaps.ts keeps many: by history stage, scale, user and trigger) and its
 * Kaplan–Meier estimate as compact atoms; plus the atom helpers the pools share (mixAtoms, spreading
 * the not-yet-seen mass). Pure: no clock, minutes are arguments.
 */

import { insertAt, lowerBound, upperBound } from "../core/sorted.js";
import { arenaAtoms, reserveArenaAtoms } from "./atom-arena.js";
import { doubleArray, type GapAtoms, reserveAtoms } from "./idle-distribution.js";
import { OpenGaps } from "./open-gaps.js";

/** Atoms are rebuilt when time has moved by an eighth of the pool's age, and at least this much. */
const REBUILD_MIN = 15;
const REBUILD_DIV = 8;

/**
 * Completed gaps (1-minute bins) plus the gaps still open (apps waiting for their next arrival),
 * turned into a Kaplan–Meier estimate: early in a trace only short gaps have had time to complete, and
 * counting completed gaps alone would say every app comes back within minutes. Its compact atoms are
 * rebuilt when the pool has grown, or time has moved, by an eighth.
 *
 * A rebuild costs O(distinct gaps + open gaps), not O(longest gap): the estimate only moves at
 * minutes where a gap completed, so empty minutes are skipped (same arithmetic, same order).
 */
export class GapPool {
  /** Minutes with a completed gap, ascending, and how many completed there (sparse: a dense array up
   * to the longest gap cost 80 kB per pool and its growth). */
  private readonly distinct: number[] = doubleArray();
  private readonly counts: number[] = doubleArray();
  out = 0;
  total = 0;
  private maxGap = 0;
  /** Open gaps by the minute they started (the app's last busy minute). */
  private readonly open = new OpenGaps();
  private created = Number.NaN;
  private atoms: GapAtoms | undefined;
  /** The atoms before those: their buffers are reused by the next rebuild. */
  private previous: GapAtoms | undefined;
  private builtTotal = 0;
  private builtAt = 0;
  /** Open gaps at least as long as distinct[k] (built per rebuild). */
  private openAtLeast = new Float64Array(0);
  /** Samples (completed and open gaps) behind the atoms last built. */
  builtSize = 0;
  /** Mixtures of these atoms with wider priors, kept by pooled-gaps.ts (group pools). */
  readonly blends: Blend[] = [];

  /** `slack`: completed gaps that may arrive before the atoms are rebuilt (besides an eighth more). */
  constructor(
    readonly range: number,
    readonly slack = 16,
  ) {}

  enter(last: number): void {
    if (Number.isNaN(this.created)) this.created = last;
    this.open.enter(last);
  }

  complete(last: number, gap: number): void {
    this.open.leave(last);
    if (gap > this.range) this.out += 1;
    else {
      const i = lowerBound(this.distinct, gap);
      if (this.distinct[i] === gap) this.counts[i]! += 1;
      else {
        insertAt(this.distinct, i, gap);
        insertAt(this.counts, i, 1);
      }
      if (gap > this.maxGap) this.maxGap = gap;
    }
    this.total += 1;
  }

  /** Samples behind the estimate (completed and open gaps). */
  size(): number {
    return this.total + this.open.total;
  }

  /** Exact 1-minute bins up to `exactUpTo`, then groups growing by `ratio`, each at its mean. */
  compact(now: number, exactUpTo: number, ratio: number, dailyShare = 0, dailyFrom = HALF_A_DAY): GapAtoms {
    const age = now - this.created;
    if (
      this.atoms &&
      this.total < this.builtTotal * 1.125 + this.slack &&
      now - this.builtAt < Math.max(REBUILD_MIN, age / REBUILD_DIV)
    )
      return this.atoms;
    const horizon = Math.min(this.range, Math.max(this.maxGap, age));
    // No gap completed beyond maxGap (≤ range): the estimate is flat from there to the horizon.
    const top = Math.min(horizon, this.maxGap);
    const gaps = this.distinct;
    const n = gaps.length;
    // An open gap is at least now − last (an earlier arrival would have been seen): it is at risk at
    // every completed minute up to there. Integer counts, so the order of summation does not matter.
    if (this.openAtLeast.length < n + 1) this.openAtLeast = new Float64Array(Math.max(n + 1, 2 * n));
    const openAtLeast = this.openAtLeast;
    openAtLeast.fill(0, 0, n + 1);
    const openMinute = this.open.minute;
    const openCount = this.open.count;
    for (let i = 0; i < openMinute.length; i++) {
      const at = Math.min(top + 1, Math.max(0, now - openMinute[i]!));
      openAtLeast[upperBound(gaps, at)]! += openCount[i]!;
    }
    for (let k = n - 1; k >= 0; k--) openAtLeast[k]! += openAtLeast[k + 1]!;
    // openAtLeast[k + 1] now counts the open gaps ≥ gaps[k].
    const c = this.counts;
    let completedAtLeast = this.total;
    let survival = 1;
    // A fresh object (callers memoise on identity) over the buffers of two rebuilds ago: typed-array
    // allocation was a tenth of the replay. The last atoms handed out stay intact until the next rebuild.
    const a = recycledAtoms(this.previous, Math.min(128, n + 40));
    let lo = 1;
    let k = 0;
    while (k < n) {
      // Empty exact minutes contribute nothing: jump to the next completed one.
      if (lo <= exactUpTo && gaps[k]! > lo) {
        lo = Math.min(gaps[k]!, exactUpTo + 1);
        continue;
      }
      const hi = lo <= exactUpTo ? lo : Math.min(top, Math.floor(lo * ratio));
      let mass = 0;
      let moment = 0;
      for (; k < n && gaps[k]! <= hi; k++) {
        const g = gaps[k]!;
        const atRisk = completedAtLeast + openAtLeast[k + 1]!;
        const d = c[k]!;
        completedAtLeast -= d;
        if (atRisk <= 0) continue;
        const p = (survival * d) / atRisk;
        survival -= p;
        mass += p;
        moment += g * p;
      }
      if (mass > 0) {
        if (a.size >= a.gap.length) reserveArenaAtoms(a, a.size + 1);
        a.gap[a.size] = Math.round(moment / mass);
        a.prob[a.size] = mass;
        a.size++;
      }
      lo = hi + 1;
    }
    a.tail = Math.max(0, survival);
    // Beyond what the pool has had time to see, the gap is unknown, not "never": spread the
    // remaining mass log-uniformly up to the range (scale-free ignorance).
    if (horizon < this.range && a.tail > 0)
      spreadUnknown(a, horizon, this.range, a.tail, dailyShare, dailyFrom);
    this.previous = this.atoms;
    this.atoms = a;
    this.builtSize = this.size();
    this.builtTotal = this.total;
    this.builtAt = now;
    return a;
  }
}

/** (n·own + w·base)/(n + w), valid while `own` and `base` are the atoms current on both sides. */
export interface Blend {
  own: GapAtoms;
  base: GapAtoms;
  n: number;
  out: GapAtoms;
}

/** Empty atoms over `old`'s buffers (its content is lost), or fresh ones (a pool's: from the arena). */
export function recycledAtoms(old: GapAtoms | undefined, capacity: number): GapAtoms {
  if (!old) return arenaAtoms(capacity);
  const a: GapAtoms = { size: 0, gap: old.gap, prob: old.prob, tail: 1 };
  reserveArenaAtoms(a, capacity);
  return a;
}

/** out = wa·a + wb·b, atoms merged by gap (out must be neither input). */
export function mixAtoms(a: GapAtoms, wa: number, b: GapAtoms, wb: number, out: GapAtoms): GapAtoms {
  reserveAtoms(out, a.size + b.size);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.size || j < b.size) {
    const gi = i < a.size ? a.gap[i]! : Number.POSITIVE_INFINITY;
    const gj = j < b.size ? b.gap[j]! : Number.POSITIVE_INFINITY;
    if (gi < gj) {
      out.gap[k] = gi;
      out.prob[k++] = a.prob[i++]! * wa;
    } else if (gj < gi) {
      out.gap[k] = gj;
      out.prob[k++] = b.prob[j++]! * wb;
    } else {
      out.gap[k] = gi;
      out.prob[k++] = a.prob[i++]! * wa + b.prob[j++]! * wb;
    }
  }
  out.size = k;
  out.tail = a.tail * wa + b.tail * wb;
  return out;
}

/** A day, minutes, and the spread of a daily job's submission around it (the `dailyShare` bump). */
const DAY_FROM = 1438;
const DAY_TO = 1447;
/** Where the unseen mass the daily share comes out of begins, by default (`dailyFrom`). */
export const HALF_A_DAY = 720;

/** Whether a gap falls in the minutes of the daily bump (a daily job's next submission). */
export function isAboutADay(gap: number): boolean {
  return gap >= DAY_FROM && gap <= DAY_TO;
}

/**
 * Moves `mass` of the tail (gaps longer than `after`, not yet seen) onto atoms in (after, range]:
 * equal mass per octave ("no idea of the scale"), except a `dailyShare` of the part beyond `dailyFrom`
 * minutes (half a day), spread over the minutes around one day instead (scheduled jobs are mostly daily;
 * the pool cannot have seen it before a day has passed). By default only the part beyond half a day:
 * taking the share out of the whole tail (`dailyFrom` 0) starves a young pool's near future, which
 * helps Google's batch jobs but cost Azure (no daily jobs) 2.6× the avoidable cold starts.
 */
export function spreadUnknown(
  a: GapAtoms,
  after: number,
  range: number,
  mass: number,
  dailyShare: number,
  dailyFrom = HALF_A_DAY,
): void {
  if (!(dailyShare > 0) || after >= DAY_FROM || range < DAY_TO) {
    spreadLogUniform(a, after, range, mass);
    return;
  }
  // The log-uniform part into a scratch buffer, then merged with the day's atoms into `a` (what
  // mixAtoms(flat, 1, bump, 1) gave, to the bit, without allocating three atom buffers per rebuild).
  const flat = SPREAD_SCRATCH;
  flat.size = 0;
  flat.tail = 1;
  let each: number;
  if (after >= dailyFrom) {
    spreadLogUniform(flat, after, range, mass * (1 - dailyShare));
    each = (mass * dailyShare) / (DAY_TO - DAY_FROM + 1);
  } else {
    // A young pool: the day's share comes only out of the mass beyond `dailyFrom` (half a day: what
    // dailyAdapt measures), so the near future an app has not shown yet keeps its log-uniform mass.
    spreadLogUniform(flat, after, range, mass);
    let beyond = 0;
    for (let i = 0; i < flat.size; i++) {
      if (flat.gap[i]! <= dailyFrom) continue;
      beyond += flat.prob[i]!;
      flat.prob[i]! *= 1 - dailyShare;
    }
    each = (beyond * dailyShare) / (DAY_TO - DAY_FROM + 1);
  }
  reserveArenaAtoms(a, a.size + flat.size + (DAY_TO - DAY_FROM + 1));
  let i = 0;
  let g = DAY_FROM;
  while (i < flat.size || g <= DAY_TO) {
    const gf = i < flat.size ? flat.gap[i]! : Number.POSITIVE_INFINITY;
    const gb = g <= DAY_TO ? g : Number.POSITIVE_INFINITY;
    a.gap[a.size] = Math.min(gf, gb);
    if (gf < gb) a.prob[a.size] = flat.prob[i++]! * 1;
    else if (gb < gf) a.prob[a.size] = each * 1;
    else a.prob[a.size] = flat.prob[i++]! * 1 + each * 1;
    if (gb <= gf) g++;
    a.size++;
  }
  a.tail -= mass;
  if (a.tail < 1e-12) a.tail = 0;
}

/** spreadUnknown's log-uniform part (reused: one spread at a time). */
const SPREAD_SCRATCH = arenaAtoms(64);

/** Moves `mass` of the tail onto atoms in (after, range], log-uniformly (groups growing by 1.25). */
function spreadLogUniform(a: GapAtoms, after: number, range: number, mass: number): void {
  const from = after + 1;
  const total = Math.log(range + 1) - Math.log(from);
  if (!(total > 0)) return;
  let lo = from;
  while (lo <= range) {
    const hi = Math.min(range, Math.max(lo, Math.floor(lo * 1.25)));
    if (a.size >= a.gap.length) reserveArenaAtoms(a, a.size + 1);
    a.gap[a.size] = Math.round(Math.sqrt(lo * hi));
    a.prob[a.size] = (mass * (Math.log(hi + 1) - Math.log(lo))) / total;
    a.size++;
    lo = hi + 1;
  }
  a.tail -= mass;
  if (a.tail < 1e-12) a.tail = 0;
}

/**
 * Gap distributions pooled over apps: the prior of an app with little history. Pure: no clock, minutes
 * are arguments. Split from idle-distribution.ts (per-app histograms).
 */
import { emptyAtoms, type GapAtoms, reserveAtoms } from "./idle-distribution.js";

/**
 * One pooled histogram (1-minute bins) of completed gaps plus the gaps still open (apps waiting for
 * their next arrival), turned into a Kaplan–Meier estimate: early in a trace only short gaps have had
 * time to complete, and counting completed gaps alone would say every app comes back within minutes.
 * Its compact atoms are rebuilt when the pool has grown, or time has moved, by an eighth.
 */
/** Atoms are rebuilt when time has moved by an eighth of the pool's age, and at least this much. */
const REBUILD_MIN = 15;
const REBUILD_DIV = 8;
/** Blends kept per (group, stage). */
const BLENDS_KEPT = 4;
/** A group pool's atoms are rebuilt after this many more completed gaps (and an eighth). */
const GROUP_SLACK = 2;

class DensePool {
  /** Completed gaps per minute, grown on demand up to the range. */
  private counts = new Float64Array(64);
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
  private scratch = new Float64Array(0);
  /** Samples (completed and open gaps) behind the atoms last built. */
  builtSize = 0;

  /** `slack`: completed gaps that may arrive before the atoms are rebuilt (besides an eighth more). */
  constructor(
    readonly range: number,
    readonly slack = 16,
  ) {}

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
      if (gap >= this.counts.length) {
        const grown = new Float64Array(Math.min(this.range + 1, Math.max(gap + 1, 2 * this.counts.length)));
        grown.set(this.counts);
        this.counts = grown;
      }
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
  compact(now: number, exactUpTo: number, ratio: number, dailyShare = 0): GapAtoms {
    const age = now - this.created;
    if (
      this.atoms &&
      this.total < this.builtTotal * 1.125 + this.slack &&
      now - this.builtAt < Math.max(REBUILD_MIN, age / REBUILD_DIV)
    )
      return this.atoms;
    const horizon = Math.min(this.range, Math.max(this.maxGap, age));
    // No gap completed beyond maxGap: the estimate is flat from there to the horizon.
    const top = Math.min(horizon, this.maxGap);
    // An open gap is at least now − last (an earlier arrival would have been seen): at risk up to there.
    if (this.scratch.length < top + 2)
      this.scratch = new Float64Array(Math.max(top + 2, 2 * this.scratch.length));
    const openAtLeast = this.scratch;
    openAtLeast.fill(0, 0, top + 2);
    for (const [last, n] of this.open) openAtLeast[Math.min(top + 1, Math.max(0, now - last))]! += n;
    for (let g = top; g >= 0; g--) openAtLeast[g]! += openAtLeast[g + 1]!;
    const c = this.counts;
    let completedAtLeast = this.total;
    let survival = 1;
    const a = emptyAtoms(128);
    let lo = 1;
    while (lo <= top) {
      const hi = lo <= exactUpTo ? lo : Math.min(top, Math.floor(lo * ratio));
      let mass = 0;
      let moment = 0;
      for (let g = lo; g <= hi; g++) {
        const atRisk = completedAtLeast + openAtLeast[g]!;
        const d = g < c.length ? c[g]! : 0;
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
    if (horizon < this.range && a.tail > 0) spreadUnknown(a, horizon, this.range, a.tail, dailyShare);
    this.atoms = a;
    this.builtSize = this.size();
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
  private readonly groupPools = new Map<number, DensePool>();
  private readonly blends = new Map<number, Blend[]>();
  private blendTurn = 0;
  private readonly fallback: GapAtoms;

  /**
   * `groupStages`: group pools (e.g. per user or trigger, see `prior`) exist for stages below this;
   * `groupWeight`: pseudo-samples of the wider prior behind a group's own estimate.
   */
  constructor(
    readonly range: number,
    readonly stageLimits: readonly number[] = [0, 1, 2, 4, 8],
    readonly minPoolSize = 30,
    readonly exactUpTo = 32,
    readonly groupRatio = 1.1,
    readonly groupStages = 3,
    readonly groupWeight = 4,
    readonly dailyShare = 0,
  ) {
    this.fallback = emptyAtoms(64);
    spreadUnknown(this.fallback, 0, range, 1, dailyShare);
  }

  /** Stage of an app that has seen `gapsSeen` gaps: the last limit not above it. */
  stage(gapsSeen: number): number {
    const l = this.stageLimits;
    let s = 0;
    while (s + 1 < l.length && l[s + 1]! <= gapsSeen) s++;
    return s;
  }

  /**
   * An app with `gapsSeen` gaps of typical size `typicalGap` was busy at `last` and now waits. `group`
   * and `group2` (≥ 0; −1 = none) are the app's pooling groups, e.g. its user and its trigger.
   */
  enter(gapsSeen: number, typicalGap: number, last: number, group = -1, group2 = -1): void {
    const s = this.stage(gapsSeen);
    this.pool(s * 64 + 63).enter(last);
    if (gapsSeen > 0) this.pool(s * 64 + scaleBucket(typicalGap)).enter(last);
    if (s < this.groupStages) {
      if (group >= 0) this.groupPool(group, s).enter(last);
      if (group2 >= 0) this.groupPool(-1 - group2, s).enter(last);
    }
  }

  /** That app's wait ended after `gap` minutes (same arguments as `enter`, and the gap). */
  complete(gapsSeen: number, typicalGap: number, last: number, gap: number, group = -1, group2 = -1): void {
    const s = this.stage(gapsSeen);
    this.pool(s * 64 + 63).complete(last, gap);
    if (gapsSeen > 0) this.pool(s * 64 + scaleBucket(typicalGap)).complete(last, gap);
    if (s < this.groupStages) {
      if (group >= 0) this.groupPool(group, s).complete(last, gap);
      if (group2 >= 0) this.groupPool(-1 - group2, s).complete(last, gap);
    }
  }

  /**
   * The prior at minute `now` for an app with `gapsSeen` gaps of typical size `typicalGap`: the pool of
   * apps at the same stage (and scale), then, in early stages, shrunk towards what apps of the same
   * `group2` and then the same `group` did: n·group + groupWeight·wider over n + groupWeight, n the
   * group's samples (completed and open gaps). A group's pooled gaps are its apps' own history.
   */
  prior(now: number, gapsSeen: number, typicalGap: number, group = -1, group2 = -1): GapAtoms {
    const s = this.stage(gapsSeen);
    let base = this.widePrior(now, gapsSeen, typicalGap);
    if (s >= this.groupStages || (group < 0 && group2 < 0)) return base;
    if (group2 >= 0) base = this.blend(-1 - group2, s, base, now);
    if (group >= 0) base = this.blend(group, s, base, now);
    return base;
  }

  private widePrior(now: number, gapsSeen: number, typicalGap: number): GapAtoms {
    const s = this.stage(gapsSeen);
    if (gapsSeen > 0) {
      const bucket = this.pools.get(s * 64 + scaleBucket(typicalGap));
      if (bucket && bucket.total >= this.minPoolSize)
        return bucket.compact(now, this.exactUpTo, this.groupRatio, this.dailyShare);
    }
    for (let k = s; k >= 0; k--) {
      const whole = this.pools.get(k * 64 + 63);
      if (whole && whole.total >= this.minPoolSize)
        return whole.compact(now, this.exactUpTo, this.groupRatio, this.dailyShare);
    }
    return this.fallback;
  }

  /** (n·group + w·base)/(n + w), cached while neither side has been rebuilt. */
  private blend(group: number, stage: number, base: GapAtoms, now: number): GapAtoms {
    const key = group * 8 + stage;
    const pool = this.groupPools.get(key);
    if (!pool || pool.size() === 0) return base;
    // A group has few distinct gaps: exact 1-minute atoms keep a daily job's 1440 sharp.
    const own = pool.compact(now, this.range, this.groupRatio, this.dailyShare);
    const n = pool.builtSize;
    // A few blends per group and stage: its apps sit in a few scale buckets (bases).
    let list = this.blends.get(key);
    if (!list) {
      list = [];
      this.blends.set(key, list);
    }
    for (const b of list) if (b.own === own && b.base === base) return b.out;
    const w = this.groupWeight;
    // A fresh object per rebuild: callers may memoise on a prior's identity.
    const out = mixAtoms(own, n / (n + w), base, w / (n + w), emptyAtoms(own.size + base.size));
    const entry = { own, base, n, out };
    const stale = list.findIndex((b) => b.own !== own);
    if (stale >= 0) list[stale] = entry;
    else if (list.length < BLENDS_KEPT) list.push(entry);
    else {
      this.blendTurn = (this.blendTurn + 1) % BLENDS_KEPT;
      list[this.blendTurn] = entry;
    }
    return out;
  }

  private pool(key: number): DensePool {
    let p = this.pools.get(key);
    if (!p) {
      p = new DensePool(this.range);
      this.pools.set(key, p);
    }
    return p;
  }

  private groupPool(group: number, stage: number): DensePool {
    const key = group * 8 + stage;
    let p = this.groupPools.get(key);
    if (!p) {
      p = new DensePool(this.range, GROUP_SLACK);
      this.groupPools.set(key, p);
    }
    return p;
  }
}

interface Blend {
  own: GapAtoms;
  base: GapAtoms;
  n: number;
  out: GapAtoms;
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

/** Half-octave bucket of a gap scale (0…62). */
function scaleBucket(typicalGap: number): number {
  return Math.max(0, Math.min(62, Math.round(2 * Math.log2(Math.max(1, typicalGap)))));
}

/** A day, minutes, and the spread of a daily job's submission around it (the `dailyShare` bump). */
const DAY_FROM = 1438;
const DAY_TO = 1447;

/**
 * Moves `mass` of the tail (gaps longer than `after`, not yet seen) onto atoms in (after, range]:
 * equal mass per octave ("no idea of the scale"), except a `dailyShare` of it spread over the minutes
 * around one day (scheduled jobs are mostly daily; the pool cannot have seen it before a day has passed).
 */
function spreadUnknown(a: GapAtoms, after: number, range: number, mass: number, dailyShare: number): void {
  if (!(dailyShare > 0) || after >= DAY_FROM || range < DAY_TO) {
    spreadLogUniform(a, after, range, mass);
    return;
  }
  const flat = emptyAtoms(64);
  spreadLogUniform(flat, after, range, mass * (1 - dailyShare));
  const bump = emptyAtoms(DAY_TO - DAY_FROM + 1);
  for (let g = DAY_FROM; g <= DAY_TO; g++) {
    bump.gap[bump.size] = g;
    bump.prob[bump.size++] = (mass * dailyShare) / (DAY_TO - DAY_FROM + 1);
  }
  bump.tail = 0;
  flat.tail = 0;
  const both = mixAtoms(flat, 1, bump, 1, emptyAtoms(flat.size + bump.size));
  reserveAtoms(a, a.size + both.size);
  a.gap.set(both.gap.subarray(0, both.size), a.size);
  a.prob.set(both.prob.subarray(0, both.size), a.size);
  a.size += both.size;
  a.tail -= mass;
  if (a.tail < 1e-12) a.tail = 0;
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

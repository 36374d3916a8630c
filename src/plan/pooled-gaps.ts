/**
 * Gap distributions pooled over apps: the prior of an app with little history. Pure: no clock, minutes
 * are arguments. Split from idle-distribution.ts (per-app histograms); one pool is gap-pool.ts.
 */
import { lowerBound } from "../core/sorted.js";
import { GapPool, HALF_A_DAY, isAboutADay, mixAtoms, recycledAtoms, spreadUnknown } from "./gap-pool.js";
import { emptyAtoms, type GapAtoms } from "./idle-distribution.js";

export { mixAtoms };

const DAY = 1440;
/** Gaps over half a day needed before the daily share is learnt from them. */
const DAILY_MIN_GAPS = 30;
/** Blends kept per (group, stage). */
const BLENDS_KEPT = 4;
/** A group pool's atoms are rebuilt after this many more completed gaps (and an eighth). */
const GROUP_SLACK = 2;

/**
 * Gaps pooled over all apps, by what little an app has shown so far: its history length (stage) and
 * the scale of its gaps (geometric mean, in half-octaves). An app whose first two gaps were 3 and 4
 * minutes gets the next-gap distribution of other apps that started like that, not the gap-1 mass of
 * busy apps. A bucket with too little data falls back to its whole stage, then to earlier stages, then
 * to a log-uniform default over the range (the trace's very first decisions). Callers report each app's
 * open gap (`enter`) and its completion (`complete`) with the same (gapsSeen, typicalGap, last).
 */
export class PooledGaps {
  private readonly pools = new Map<number, GapPool>();
  private readonly groupPools = new Map<number, GapPool>();
  private blendTurn = 0;
  private readonly spare = newPoolTicket();
  /** `prior`'s lookups (without creating pools: never a ticket `locate` may trust). */
  private readonly probe = newPoolTicket();
  private readonly fallback: GapAtoms;

  /**
   * `groupStages`: group pools (e.g. per user or trigger, see `prior`) exist for stages below this;
   * `groupWeight`: pseudo-samples of the wider prior behind a group's own estimate; `dailyShare`: of
   * the not-yet-seen mass beyond `dailyFrom` minutes (half a day; 0 = all of it), the share put around
   * one day; `dailyAdapt`: once DAILY_MIN_GAPS gaps longer than half a day have completed, that share
   * is the fraction of them that came one day after — measured over half a day whatever `dailyFrom`
   * is, so below 720 a learnt share is applied to more of a young pool's unseen mass than it was
   * measured on (what `dailyFrom=0` wants on Google: a stronger day-1 belief). The fallback prior (no
   * pool has 30 gaps yet) keeps the share it was built with.
   */
  constructor(
    readonly range: number,
    readonly stageLimits: readonly number[] = [0, 1, 2, 4, 8],
    readonly minPoolSize = 30,
    readonly exactUpTo = 32,
    readonly groupRatio = 1.1,
    readonly groupStages = 3,
    readonly groupWeight = 4,
    public dailyShare = 0,
    readonly dailyAdapt = false,
    readonly dailyFrom = HALF_A_DAY,
    readonly byBirth = false,
  ) {
    this.fallback = emptyAtoms(64);
    spreadUnknown(this.fallback, 0, range, 1, dailyShare, dailyFrom);
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
   * and `group2` (≥ 0; −1 = none) are the app's pooling groups, e.g. its user and its trigger. With a
   * `ticket` (one per app, kept by the caller), the pools found here are remembered for `completeIn`
   * and `prior`, which then skip the lookups.
   */
  enter(
    gapsSeen: number,
    typicalGap: number,
    last: number,
    group = -1,
    group2 = -1,
    ticket: PoolTicket = this.spare,
  ): void {
    if (last < this.firstWait) this.firstWait = last;
    if (ticket === this.spare) this.spare.born = Number.NaN;
    this.locate(ticket, gapsSeen, typicalGap, group, group2, last);
    ticket.whole!.enter(last);
    ticket.bucket?.enter(last);
    ticket.group?.enter(last);
    ticket.group2?.enter(last);
  }

  /** That app's wait ended after `gap` minutes (same arguments as `enter`, and the gap). */
  complete(gapsSeen: number, typicalGap: number, last: number, gap: number, group = -1, group2 = -1): void {
    // The shared ticket knows no app's birth (another app may have left its own there).
    this.spare.born = Number.NaN;
    this.locate(this.spare, gapsSeen, typicalGap, group, group2, last);
    this.completeIn(this.spare, last, gap);
  }

  /** Completed gaps longer than half a day (up to the range), and those of them about one day long. */
  private overHalfDay = 0;
  private aboutADay = 0;
  /** The first minute a wait began. */
  private firstWait = Number.POSITIVE_INFINITY;

  /** The wait entered with `ticket` ended after `gap` minutes. */
  completeIn(ticket: PoolTicket, last: number, gap: number): void {
    // Only gaps that ended a day or more after the first wait: before that, a long gap could not yet
    // have been a day long, and counting them would hold the share down into the second day.
    if (this.dailyAdapt && gap > HALF_A_DAY && gap <= this.range && last + gap >= this.firstWait + DAY) {
      this.overHalfDay++;
      if (isAboutADay(gap)) this.aboutADay++;
      if (this.overHalfDay >= DAILY_MIN_GAPS) this.dailyShare = this.aboutADay / this.overHalfDay;
    }
    ticket.whole!.complete(last, gap);
    ticket.bucket?.complete(last, gap);
    ticket.group?.complete(last, gap);
    ticket.group2?.complete(last, gap);
  }

  /**
   * Fills `t` with the pools of an app at this stage and scale (creating them). Without gaps (`last`
   * is then the app's first busy minute), with `byBirth`, the bucket is its birth class instead, and
   * its group pools are its birth class's, as they are after its first gap.
   */
  private locate(
    t: PoolTicket,
    gapsSeen: number,
    typicalGap: number,
    group: number,
    group2: number,
    last: number,
  ): void {
    const s = this.stage(gapsSeen);
    t.gapsSeen = gapsSeen;
    if (gapsSeen === 0) t.born = last;
    // The birth class, where it is used: without gaps, and with one in the group pools (−1: none).
    const born =
      this.byBirth && gapsSeen <= 1 && !Number.isNaN(t.born) ? birthClass(t.born - this.firstWait) : -1;
    const bucketKey = gapsSeen > 0 ? s * 64 + scaleBucket(typicalGap) : born >= 0 ? BIRTH_KEY - born : -1 - s;
    // A group's apps without gaps, or with one, are pooled by birth class too (slots 8–13 and 16–21
    // beside the stages'): an old app's second gap is as unlike a new app's as its first.
    const slot = born < 0 ? s : (gapsSeen === 0 ? 8 : 16) + born;
    // Same stage, scale, groups and group slot as the app's last wait (the usual case): same pools.
    if (t.bucketKey === bucketKey && t.groupId === group && t.group2Id === group2 && t.slot === slot) return;
    t.bucketKey = bucketKey;
    t.groupId = group;
    t.group2Id = group2;
    t.slot = slot;
    t.stage = s;
    t.whole = this.pool(s * 64 + 63);
    t.bucket = gapsSeen > 0 || this.byBirth ? this.pool(bucketKey) : undefined;
    const grouped = s < this.groupStages;
    t.group = grouped && group >= 0 ? this.groupPool(group, slot) : undefined;
    t.group2 = grouped && group2 >= 0 ? this.groupPool(-1 - group2, slot) : undefined;
  }

  /**
   * The prior at minute `now` for an app with `gapsSeen` gaps of typical size `typicalGap`: the pool of
   * apps at the same stage (and scale), then, in early stages, shrunk towards what apps of the same
   * `group2` and then the same `group` did: n·group + groupWeight·wider over n + groupWeight, n the
   * group's samples (completed and open gaps). A group's pooled gaps are its apps' own history.
   * Read-only, and read before further calls: rebuilds reuse the buffers of replaced atoms. It knows
   * no app's birth: with `byBirth`, ask `priorOf` with the app's ticket.
   */
  prior(now: number, gapsSeen: number, typicalGap: number, group = -1, group2 = -1): GapAtoms {
    const t = this.probe;
    t.stage = this.stage(gapsSeen);
    t.gapsSeen = gapsSeen;
    t.whole = this.pools.get(t.stage * 64 + 63);
    t.bucket = gapsSeen > 0 ? this.pools.get(t.stage * 64 + scaleBucket(typicalGap)) : undefined;
    const grouped = t.stage < this.groupStages;
    t.group = grouped && group >= 0 ? this.groupPools.get(group * 32 + t.stage) : undefined;
    t.group2 = grouped && group2 >= 0 ? this.groupPools.get((-1 - group2) * 32 + t.stage) : undefined;
    return this.priorOf(now, t);
  }

  /** `prior` for the app whose current wait was entered with `ticket` (same pools, no lookups). */
  priorOf(now: number, ticket: PoolTicket): GapAtoms {
    let base = this.widePrior(now, ticket);
    if (ticket.stage >= this.groupStages) return base;
    if (ticket.group2) base = this.blend(ticket.group2, base, now);
    if (ticket.group) base = this.blend(ticket.group, base, now);
    return base;
  }

  /**
   * The mass `priorOf(now, ticket)` puts on gaps in [lo, hi] (its tail too when hi is past the range),
   * from the pools' atoms without building the blends (a blend's mass is the blend of its parts'):
   * scoring a prior costs no merge and leaves the blends kept for decisions alone.
   */
  priorMassIn(now: number, ticket: PoolTicket, lo: number, hi: number): number {
    let mass = atomMassIn(this.widePrior(now, ticket), lo, hi, this.range);
    if (ticket.stage >= this.groupStages) return mass;
    if (ticket.group2) mass = this.blendMassIn(ticket.group2, mass, now, lo, hi);
    if (ticket.group) mass = this.blendMassIn(ticket.group, mass, now, lo, hi);
    return mass;
  }

  private blendMassIn(pool: GapPool, baseMass: number, now: number, lo: number, hi: number): number {
    if (pool.size() === 0) return baseMass;
    const own = this.groupAtoms(pool, now);
    const n = pool.builtSize;
    const w = this.groupWeight;
    return atomMassIn(own, lo, hi, this.range) * (n / (n + w)) + baseMass * (w / (n + w));
  }

  /** A group pool's own atoms (exact 1-minute: a group has few distinct gaps, and a daily job's 1440 stays sharp). */
  private groupAtoms(pool: GapPool, now: number): GapAtoms {
    return pool.compact(now, this.range, this.groupRatio, this.dailyShare, this.dailyFrom);
  }

  private widePrior(now: number, t: PoolTicket): GapAtoms {
    const b = t.bucket;
    if (t.gapsSeen > 0 && b && b.total >= this.minPoolSize)
      return b.compact(now, this.exactUpTo, this.groupRatio, this.dailyShare, this.dailyFrom);
    // A birth class counts its open waits too: apps that have not come back are what it has to say.
    // Too few yet: the nearest earlier class of new apps (not class 0, the old ones). A learner relearnt
    // over a week's window puts every app born since into the last class, empty at first.
    if (t.gapsSeen === 0 && b) {
      if (b.size() >= this.minPoolSize)
        return b.compact(now, this.exactUpTo, this.groupRatio, this.dailyShare, this.dailyFrom);
      for (let k = BIRTH_KEY - t.bucketKey - 1; k >= 1; k--) {
        const earlier = this.pools.get(BIRTH_KEY - k);
        if (earlier && earlier.size() >= this.minPoolSize)
          return earlier.compact(now, this.exactUpTo, this.groupRatio, this.dailyShare, this.dailyFrom);
      }
    }
    for (let k = t.stage; k >= 0; k--) {
      const whole = k === t.stage ? t.whole : this.pools.get(k * 64 + 63);
      if (whole && whole.total >= this.minPoolSize)
        return whole.compact(now, this.exactUpTo, this.groupRatio, this.dailyShare, this.dailyFrom);
    }
    return this.fallback;
  }

  /** (n·group + w·base)/(n + w), cached while neither side has been rebuilt. */
  private blend(pool: GapPool, base: GapAtoms, now: number): GapAtoms {
    if (pool.size() === 0) return base;
    const own = this.groupAtoms(pool, now);
    const n = pool.builtSize;
    // A few blends per group and stage: its apps sit in a few scale buckets (bases).
    const list = pool.blends;
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!;
      if (b.own === own && b.base === base) return b.out;
    }
    const w = this.groupWeight;
    // The entry replaced: one of an older build of the group, else round robin once full.
    let slot = list.findIndex((b) => b.own !== own);
    if (slot < 0 && list.length >= BLENDS_KEPT) {
      this.blendTurn = (this.blendTurn + 1) % BLENDS_KEPT;
      slot = this.blendTurn;
    }
    // A fresh object per rebuild (callers may memoise on a prior's identity), over the replaced
    // entry's buffers: nothing reads a replaced blend again.
    const spare = slot >= 0 ? list[slot]!.out : undefined;
    const out = mixAtoms(own, n / (n + w), base, w / (n + w), recycledAtoms(spare, own.size + base.size));
    const entry = { own, base, n, out };
    if (slot >= 0) list[slot] = entry;
    else list.push(entry);
    return out;
  }

  private pool(key: number): GapPool {
    let p = this.pools.get(key);
    if (!p) {
      p = new GapPool(this.range);
      this.pools.set(key, p);
    }
    return p;
  }

  private groupPool(group: number, slot: number): GapPool {
    const key = group * 32 + slot;
    let p = this.groupPools.get(key);
    if (!p) {
      p = new GapPool(this.range, GROUP_SLACK);
      this.groupPools.set(key, p);
    }
    return p;
  }
}

/** The pools an app's current wait sits in (see `PooledGaps.enter`). */
export interface PoolTicket {
  stage: number;
  gapsSeen: number;
  /**
   * What the pools below were located for: stage·64 + scale bucket (without gaps: −1 − stage, or
   * BIRTH_KEY − birth class), groups.
   */
  bucketKey: number;
  groupId: number;
  group2Id: number;
  whole: GapPool | undefined;
  bucket: GapPool | undefined;
  group: GapPool | undefined;
  group2: GapPool | undefined;
  /** The group pools' slot: the stage, or a birth class's (see `locate`). */
  slot: number;
  /** The app's first busy minute (set when it entered without gaps). */
  born: number;
}

export function newPoolTicket(): PoolTicket {
  return {
    stage: 0,
    gapsSeen: 0,
    bucketKey: Number.NaN,
    groupId: Number.NaN,
    group2Id: Number.NaN,
    whole: undefined,
    bucket: undefined,
    group: undefined,
    group2: undefined,
    slot: Number.NaN,
    born: Number.NaN,
  };
}

/** Mass of `a` on gaps in [lo, hi], and its tail when `hi` is past `range` (out-of-range gaps). */
export function atomMassIn(a: GapAtoms, lo: number, hi: number, range: number): number {
  let mass = hi > range ? a.tail : 0;
  for (let i = lowerBound(a.gap, lo, 0, a.size); i < a.size && a.gap[i]! <= hi; i++) mass += a.prob[i]!;
  return mass;
}

/**
 * Birth classes of apps without gaps, by minutes from the first wait the pools saw to the app's first
 * busy minute: < 1, 1–9, 10–99, 100–999, 1000–9999, more. Apps first seen as a trace or a relearnt
 * history window starts are old apps whose past is cut off (Azure 2019: all of those born in minute 0
 * came back within an hour); one first seen hours later is new, and often does not come back (35 %
 * within an hour of those born 1–6 hours in). Pooling them apart gives each the first gaps of its kind.
 */
function birthClass(age: number): number {
  return age < 1 ? 0 : Math.min(5, 1 + Math.floor(Math.log10(age)));
}

/** Birth-class pools are keyed BIRTH_KEY − class, apart from the stage and scale keys (≥ −1 − stage). */
const BIRTH_KEY = -1000;

/** Half-octave bucket of a gap scale (0…62). */
function scaleBucket(typicalGap: number): number {
  return Math.max(0, Math.min(62, Math.round(2 * Math.log2(Math.max(1, typicalGap)))));
}

/**
 * Gap distributions pooled over apps: the prior of an app with little history. Pure: no clock, minutes
 * are arguments. Split from idle-distribution.ts (per-app histograms); one pool is gap-pool.ts.
 */
import { GapPool, mixAtoms, recycledAtoms, spreadUnknown } from "./gap-pool.js";
import { emptyAtoms, type GapAtoms } from "./idle-distribution.js";

export { mixAtoms };

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
   * Read-only, and read before further calls: rebuilds reuse the buffers of replaced atoms.
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

  private groupPool(group: number, stage: number): GapPool {
    const key = group * 8 + stage;
    let p = this.groupPools.get(key);
    if (!p) {
      p = new GapPool(this.range, GROUP_SLACK);
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

/** Half-octave bucket of a gap scale (0…62). */
function scaleBucket(typicalGap: number): number {
  return Math.max(0, Math.min(62, Math.round(2 * Math.log2(Math.max(1, typicalGap)))));
}

/**
 * Weights of the forewarm learner that are learnt while it runs, from gaps that have completed
 * (issue 7): the best fixed values differed by trace. Each gap is scored before it is learnt, so a
 * weight only ever reflects the past. Pure: no clock.
 *
 * - ConditionTrust (`condAdapt`): per app, how far to trust the histogram conditioned on the previous
 *   gap, by how much better it predicted the app's gaps than the app's whole histogram did.
 * - PriorWeightChoice (`priorAdapt`): per history bucket, the multiple of the pooled prior's weight
 *   whose mixture with the apps' own gaps has predicted the completed gaps best.
 */

/** A gap counts as predicted by the mass within this factor of it. */
export const NEAR_FACTOR = 1.25;

/** The gaps [lo, hi] that count as near `gap`. */
export function nearLow(gap: number): number {
  return Math.ceil(gap / NEAR_FACTOR);
}
export function nearHigh(gap: number): number {
  return Math.floor(gap * NEAR_FACTOR);
}

/** Each gap's log score is smoothed by this much mass (one gap no histogram saw must not decide). */
const CONDITION_SMOOTHING = 0.05;
/** The trust moves the conditioning's weight by at most e^±this; the score is held within it too. */
const CONDITION_LIMIT = 3;

export class ConditionTrust {
  /** Per app: Σ log(conditioned / whole histogram's mass near each gap), held within ±limit. */
  private readonly score: Float64Array;
  private readonly limit: number;

  /** `strength`: condAdapt (> 0). */
  constructor(
    appCount: number,
    readonly strength: number,
  ) {
    this.score = new Float64Array(appCount);
    // Held where it saturates the factor: a long run of one kind cannot outweigh what follows.
    this.limit = CONDITION_LIMIT / strength;
  }

  /** One gap of `app`: the conditioned and the whole histogram's mass near it, before it is learnt. */
  add(app: number, conditioned: number, whole: number): void {
    const s =
      this.score[app]! + Math.log((conditioned + CONDITION_SMOOTHING) / (whole + CONDITION_SMOOTHING));
    this.score[app] = Math.max(-this.limit, Math.min(this.limit, s));
  }

  /** The factor on the conditioning's shrinkage weight: < 1 where it has paid off, > 1 where not. */
  factor(app: number): number {
    return Math.exp(-this.strength * this.score[app]!);
  }
}

/** Prior weight multiples tried, and the history buckets they are scored in. */
const MULTIPLES = [0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
const BUCKETS = 6;
/** Gaps a bucket must have scored before its best multiple is used. */
const MIN_SCORED = 30;
/** A bucket with this many scored gaps has settled: from then on one completion in SAMPLE is scored. */
const FULL = 1000;
const SAMPLE = 4;
/**
 * Mass added to each predicted probability: small, so that a mixture which gave a gap almost no mass
 * pays for it (a window is chosen for its coverage, which a near-zero mass would miss).
 */
const PRIOR_SMOOTHING = 1e-4;

/** History bucket of an app with `gaps` gaps: 1, 2–3, 4–7, 8–15, 16–63, 64+. */
function bucketOf(gaps: number): number {
  return gaps < 2 ? 0 : gaps < 4 ? 1 : gaps < 8 ? 2 : gaps < 16 ? 3 : gaps < 64 ? 4 : 5;
}

export class PriorWeightChoice {
  /** Per bucket: each multiple's summed log score (bucket × MULTIPLES + k), and the gaps scored. */
  private readonly scores = new Float64Array(BUCKETS * MULTIPLES.length);
  private readonly scored = new Float64Array(BUCKETS);
  private completions = 0;

  /** `base`: the prior's configured weight (pseudo-samples), which the multiples scale. */
  constructor(readonly base: number) {}

  /** Whether to score the gap an app with `gaps` gaps (≥ 1) just completed (all until its bucket is full). */
  wants(gaps: number): boolean {
    return this.scored[bucketOf(gaps)]! < FULL || this.completions++ % SAMPLE === 0;
  }

  /**
   * The gap of an app with `gaps` gaps, `samples` of them effective: the mass its own histogram and its
   * prior put near the gap, before it is learnt.
   */
  add(gaps: number, samples: number, own: number, prior: number): void {
    const b = bucketOf(gaps) * MULTIPLES.length;
    for (let k = 0; k < MULTIPLES.length; k++) {
      const w = this.base * MULTIPLES[k]!;
      this.scores[b + k]! += Math.log((samples * own + w * prior) / (samples + w) + PRIOR_SMOOTHING);
    }
    this.scored[bucketOf(gaps)]!++;
  }

  /** The prior's weight for an app with `gaps` gaps: the base times its bucket's best multiple so far. */
  weight(gaps: number): number {
    const bucket = bucketOf(gaps);
    if (this.scored[bucket]! < MIN_SCORED) return this.base;
    const b = bucket * MULTIPLES.length;
    let best = MULTIPLES.indexOf(1);
    for (let k = 0; k < MULTIPLES.length; k++) if (this.scores[b + k]! > this.scores[b + best]!) best = k;
    return this.base * MULTIPLES[best]!;
  }
}

/** Margins tried by WindowMargin: a window's end moves out, its start in, by this share of each. */
export const WINDOW_MARGINS: readonly number[] = [0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05];
/** At most this many minutes on either side (a multi-day window needs no hours of slack). */
const PAD_CAP = 30;
/** Decisions charged before the cheapest margin is used (0 until then). */
const MARGIN_MIN_CHARGED = 200;
/** The minutes a margin `m` adds beyond a window bound `x` minutes away. */
export function padding(m: number, x: number): number {
  return Math.min(Math.round(m * x), PAD_CAP);
}

/**
 * `marginAdapt`: windows are padded by a share of their bounds — (pw, pw + ka] becomes
 * (pw − pad(pw), e + pad(e)], pad(x) = min(round(m·x), 30) — with the margin m that would have cost
 * least so far in M1's terms (a cold start per arrival outside, price × idle loaded minutes). The
 * windows come from histograms of exact minutes: a job that runs a little earlier or later than ever
 * before is missed by a hair, and how often that pays for the padding depends on the workload and the
 * price (Google's daily jobs drift by minutes), so the margin is measured, not set. A decision is
 * charged when the app's next arrival comes, or, if none came, at the first decision after every
 * candidate window is over (its whole length idle); windows still open are not charged yet.
 */
export class WindowMargin {
  /** Per candidate margin: the cost charged so far (cold starts + price × idle minutes). */
  readonly cost = new Float64Array(WINDOW_MARGINS.length);
  private charged = 0;
  private best = 0;
  // The open decision of each app (at most one): window bounds after the decision minute, price, and
  // the minute its widest candidate window ends (NaN: none open). Open apps sit in a ring of buckets by
  // that minute (doubly linked through next/prev), so an arrival unlinks its app at once and a sweep
  // visits only the minutes that passed: a window spans at most range + the largest padding minutes.
  private readonly start: Float64Array;
  private readonly end: Float64Array;
  private readonly price: Float64Array;
  private readonly deadline: Float64Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly heads: Int32Array;
  private readonly mask: number;
  private swept = Number.NEGATIVE_INFINITY;

  /** `range`: the longest window the learner gives (its histograms' range). */
  constructor(appCount: number, range: number) {
    this.start = new Float64Array(appCount);
    this.end = new Float64Array(appCount);
    this.price = new Float64Array(appCount);
    this.deadline = new Float64Array(appCount).fill(Number.NaN);
    this.next = new Int32Array(appCount);
    this.prev = new Int32Array(appCount);
    let ring = 1024;
    while (ring < range + 2 * PAD_CAP + 2) ring *= 2;
    this.heads = new Int32Array(ring).fill(-1);
    this.mask = ring - 1;
  }

  /** The margin in force. */
  get margin(): number {
    return WINDOW_MARGINS[this.best]!;
  }

  /** The next arrival of `app` came `gap` minutes after its last decision. */
  arrived(app: number, gap: number): void {
    if (Number.isNaN(this.deadline[app]!)) return;
    const s0 = this.start[app]!;
    const e0 = this.end[app]!;
    const price = this.price[app]!;
    for (let k = 0; k < WINDOW_MARGINS.length; k++) {
      const s = s0 - padding(WINDOW_MARGINS[k]!, s0);
      const e = e0 + padding(WINDOW_MARGINS[k]!, e0);
      const miss = s < gap && gap <= e ? 0 : 1;
      this.cost[k]! += miss + price * Math.max(0, Math.min(e, gap - 1) - s);
    }
    this.close(app);
  }

  /** Charges the decisions whose every candidate window ended before `minute` without an arrival. */
  sweep(minute: number): void {
    const last = minute - 1;
    if (!(last > this.swept)) return;
    // Every minute since the last sweep, or (after a jump longer than the ring) every bucket once.
    const all = !(last - this.swept <= this.mask);
    const from = all ? 0 : this.swept + 1;
    const to = all ? this.mask : last;
    for (let m = from; m <= to; m++) {
      let app = this.heads[m & this.mask]!;
      while (app >= 0) {
        const following = this.next[app]!;
        if (this.deadline[app]! <= last) this.expire(app);
        app = following;
      }
    }
    this.swept = last;
  }

  /** Pads the window (pw, pw + ka] of `app`'s decision at `minute`, at `price` per idle minute. */
  pad(
    app: number,
    minute: number,
    pw: number,
    ka: number,
    price: number,
    out: { pw: number; ka: number },
  ): void {
    this.padBefore = 0;
    this.padAfter = 0;
    if (ka === 0) return;
    const e0 = pw + ka;
    this.start[app] = pw;
    this.end[app] = e0;
    this.price[app] = price;
    const deadline = minute + e0 + padding(WINDOW_MARGINS[WINDOW_MARGINS.length - 1]!, e0);
    this.deadline[app] = deadline;
    const b = deadline & this.mask;
    const head = this.heads[b]!;
    this.next[app] = head;
    this.prev[app] = -1 - b;
    if (head >= 0) this.prev[head] = app;
    this.heads[b] = app;
    const m = WINDOW_MARGINS[this.best]!;
    this.padBefore = padding(m, pw);
    this.padAfter = padding(m, e0);
    out.pw = pw - this.padBefore;
    out.ka = e0 + this.padAfter - out.pw;
  }

  /** Minutes the last `pad` added before its window's start and after its end. */
  padBefore = 0;
  padAfter = 0;

  /** No arrival in any window: each was idle throughout (the arrival, if it comes, misses them all). */
  private expire(app: number): void {
    const s0 = this.start[app]!;
    const e0 = this.end[app]!;
    const price = this.price[app]!;
    for (let k = 0; k < WINDOW_MARGINS.length; k++)
      this.cost[k]! += price * (e0 + padding(WINDOW_MARGINS[k]!, e0) - s0 + padding(WINDOW_MARGINS[k]!, s0));
    this.close(app);
  }

  private close(app: number): void {
    // Unlink from its bucket (prev < 0: the head of bucket −1 − prev).
    const n = this.next[app]!;
    const p = this.prev[app]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[-1 - p] = n;
    if (n >= 0) this.prev[n] = p;
    this.deadline[app] = Number.NaN;
    if (++this.charged < MARGIN_MIN_CHARGED) return;
    let best = 0;
    for (let k = 1; k < WINDOW_MARGINS.length; k++) if (this.cost[k]! < this.cost[best]!) best = k;
    this.best = best;
  }
}

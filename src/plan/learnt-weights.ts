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

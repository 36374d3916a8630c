/**
 * Issue 7's goal, checked on every M1 replay: at most half the hybrid histogram's avoidable cold
 * starts at at most half its wasted memory-time, and never worse than fixed 10-minute keep-alive on
 * both axes at once. The replay runs hybrid and fixed 10 implicitly when they are not listed, so any
 * `forewarm replay` (a sweep included) says where each policy stands without hand arithmetic.
 */
import type { M1Score } from "./m1.js";

/** The goal's share of hybrid on each axis. */
export const GOAL_SHARE = 0.5;

/** One policy against the goal. */
export interface GoalStanding {
  /** Avoidable cold starts ÷ hybrid's (0 ÷ 0 = 0; more than none ÷ none = ∞, null in JSON). */
  avoidable: number;
  /** Wasted memory-time ÷ hybrid's (likewise). */
  waste: number;
  /** At most GOAL_SHARE of hybrid's avoidable cold starts and of its waste (on the counts). */
  meets: boolean;
  /** More avoidable cold starts and more waste than fixed 10-minute keep-alive, both at once. */
  worseThanFixed10: boolean;
}

export function goalStanding(s: M1Score, hybrid: M1Score, fixed10: M1Score): GoalStanding {
  const avoidable = ratio(s.avoidableColdStarts, hybrid.avoidableColdStarts);
  const waste = ratio(s.wastedMbMin, hybrid.wastedMbMin);
  return {
    avoidable,
    waste,
    // On the counts, not the ratios: with hybrid at 0 avoidable, 0 meets "at most half of it".
    meets:
      s.avoidableColdStarts <= GOAL_SHARE * hybrid.avoidableColdStarts &&
      s.wastedMbMin <= GOAL_SHARE * hybrid.wastedMbMin,
    worseThanFixed10:
      s.avoidableColdStarts > fixed10.avoidableColdStarts && s.wastedMbMin > fixed10.wastedMbMin,
  };
}

/** a ÷ b, with 0 ÷ 0 = 0 (nothing where hybrid has nothing) and x ÷ 0 = ∞. */
function ratio(a: number, b: number): number {
  if (b > 0) return a / b;
  return a > 0 ? Number.POSITIVE_INFINITY : 0;
}

/** A ratio to hybrid for people: two decimals, ∞ where hybrid has none and the policy some. */
export function formatTimes(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "∞";
}

/**
 * Two lines under the M1 table: which policies meet the goal (or the closest one and by how much it
 * misses, on the worse axis), and which are worse than fixed 10 on both axes. Bounds (oracle,
 * hindsight) and hybrid itself are not candidates.
 */
export function goalSummary(scores: readonly M1Score[]): string {
  const candidates = scores.filter((s) => s.goal && !s.bound && s.name !== "hybrid");
  if (candidates.length === 0) return "";
  const at = (s: M1Score) =>
    `${s.name} (${formatTimes(s.goal!.avoidable)}× / ${formatTimes(s.goal!.waste)}×)`;
  const meeting = candidates.filter((s) => s.goal!.meets);
  const head = `goal (≤ ${GOAL_SHARE}× hybrid's avoidable cold starts and ≤ ${GOAL_SHARE}× its waste):`;
  let first: string;
  if (meeting.length > 0) first = `${head} met by ${meeting.map(at).join(", ")}`;
  else {
    // Closest by the worse axis, then by the other (∞ on one axis still ranks by the other).
    const worse = (s: M1Score) => Math.max(s.goal!.avoidable, s.goal!.waste);
    const better = (s: M1Score) => Math.min(s.goal!.avoidable, s.goal!.waste);
    const closer = (a: M1Score, b: M1Score) =>
      worse(b) < worse(a) || (worse(b) === worse(a) && better(b) < better(a));
    const closest = candidates.reduce((a, b) => (closer(a, b) ? b : a));
    const miss = worse(closest) / GOAL_SHARE;
    const far = Number.isFinite(miss)
      ? `its worse axis ${miss.toFixed(3)}× the goal`
      : "infinitely far (hybrid has none on its worse axis)";
    first = `${head} not met; closest ${at(closest)}, ${far}`;
  }
  const worseBoth = candidates.filter((s) => s.goal!.worseThanFixed10).map((s) => s.name);
  const second = `worse than fixed:ka=10 on both axes: ${worseBoth.length > 0 ? worseBoth.join(", ") : "none"}`;
  return `${first}\n${second}`;
}

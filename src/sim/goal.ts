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
  /** Avoidable cold starts ÷ hybrid's (NaN when hybrid has none). */
  avoidable: number;
  /** Wasted memory-time ÷ hybrid's (NaN when hybrid has none). */
  waste: number;
  /** Both at or below GOAL_SHARE. */
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
    meets: avoidable <= GOAL_SHARE && waste <= GOAL_SHARE,
    worseThanFixed10:
      s.avoidableColdStarts > fixed10.avoidableColdStarts && s.wastedMbMin > fixed10.wastedMbMin,
  };
}

/** a ÷ b, with 0 ÷ 0 = 1 (as good as hybrid) and x ÷ 0 = ∞. */
function ratio(a: number, b: number): number {
  if (b > 0) return a / b;
  return a > 0 ? Number.POSITIVE_INFINITY : 1;
}

/**
 * Two lines under the M1 table: which policies meet the goal (or the closest one and by how much it
 * misses, on the worse axis), and which are worse than fixed 10 on both axes. Bounds (oracle,
 * hindsight) and hybrid itself are not candidates.
 */
export function goalSummary(scores: readonly M1Score[]): string {
  const candidates = scores.filter((s) => s.goal && !s.bound && s.name !== "hybrid");
  if (candidates.length === 0) return "";
  const pct = (x: number) => `${x.toFixed(2)}×`;
  const at = (s: M1Score) => `${s.name} (${pct(s.goal!.avoidable)} / ${pct(s.goal!.waste)})`;
  const meeting = candidates.filter((s) => s.goal!.meets);
  const head = `goal (≤ ${GOAL_SHARE}× hybrid's avoidable cold starts and ≤ ${GOAL_SHARE}× its waste):`;
  let first: string;
  if (meeting.length > 0) first = `${head} met by ${meeting.map(at).join(", ")}`;
  else {
    const worse = (s: M1Score) => Math.max(s.goal!.avoidable, s.goal!.waste);
    const closest = candidates.reduce((a, b) => (worse(b) < worse(a) ? b : a));
    const miss = worse(closest) / GOAL_SHARE;
    first = `${head} not met; closest ${at(closest)}, its worse axis ${Number.isFinite(miss) ? `${miss.toFixed(3)}×` : "infinitely far from"} the goal`;
  }
  const worseBoth = candidates.filter((s) => s.goal!.worseThanFixed10).map((s) => s.name);
  const second = `worse than fixed:ka=10 on both axes: ${worseBoth.length > 0 ? worseBoth.join(", ") : "none"}`;
  return `${first}\n${second}`;
}

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
  /** At most GOAL_SHARE of hybrid's avoidable cold starts and of its waste (on the counts); never for a bound. */
  meets: boolean;
  /** More avoidable cold starts and more waste than fixed 10-minute keep-alive, both at once. */
  worseThanFixed10: boolean;
}

/** A run on the goal's two axes (M1: wasted MB·min; M2: wasted MB·s). */
export interface GoalAxes {
  avoidableColdStarts: number;
  waste: number;
  /** A bound (the oracle, hindsight): measured against the goal, never meeting it. */
  bound?: boolean;
}

export function goalStanding(s: M1Score, hybrid: M1Score, fixed10: M1Score): GoalStanding {
  const axes = (x: M1Score): GoalAxes => ({
    avoidableColdStarts: x.avoidableColdStarts,
    waste: x.wastedMbMin,
    bound: x.bound,
  });
  return standingOn(axes(s), axes(hybrid), axes(fixed10));
}

/** `s` against the goal set by `hybrid`, and against fixed 10 on both axes. */
export function standingOn(s: GoalAxes, hybrid: GoalAxes, fixed10: GoalAxes): GoalStanding {
  return {
    avoidable: ratio(s.avoidableColdStarts, hybrid.avoidableColdStarts),
    waste: ratio(s.waste, hybrid.waste),
    // On the counts, not the ratios: with hybrid at 0 avoidable, 0 meets "at most half of it".
    meets:
      !s.bound &&
      s.avoidableColdStarts <= GOAL_SHARE * hybrid.avoidableColdStarts &&
      s.waste <= GOAL_SHARE * hybrid.waste,
    worseThanFixed10: s.avoidableColdStarts > fixed10.avoidableColdStarts && s.waste > fixed10.waste,
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
export function goalSummary(
  scores: readonly { name: string; bound?: boolean; goal?: GoalStanding }[],
): string {
  const candidates = scores.filter((s) => s.goal && !s.bound && s.name !== "hybrid");
  if (candidates.length === 0) return "";
  type Row = (typeof scores)[number];
  const at = (s: Row) => `${s.name} (${formatTimes(s.goal!.avoidable)}× / ${formatTimes(s.goal!.waste)}×)`;
  const meeting = candidates.filter((s) => s.goal!.meets);
  const head = `goal (≤ ${GOAL_SHARE}× hybrid's avoidable cold starts and ≤ ${GOAL_SHARE}× its waste):`;
  let first: string;
  if (meeting.length > 0) first = `${head} met by ${meeting.map(at).join(", ")}`;
  else {
    const { closest, miss } = closestToGoal(candidates);
    const far = Number.isFinite(miss)
      ? `its worse axis ${miss.toFixed(3)}× the goal`
      : "infinitely far (hybrid has none on its worse axis)";
    first = `${head} not met; closest ${at(closest)}, ${far}`;
  }
  const worseBoth = candidates.filter((s) => s.goal!.worseThanFixed10).map((s) => s.name);
  const second = `worse than fixed:ka=10 on both axes: ${worseBoth.length > 0 ? worseBoth.join(", ") : "none"}`;
  return `${first}\n${second}`;
}

/**
 * The row nearest the goal: by its worse axis (× hybrid), then by the other (∞ on one axis still ranks
 * by the other); `miss` = its worse axis ÷ the goal's share. `rows` must not be empty.
 */
export function closestToGoal<Row extends { goal?: GoalStanding }>(
  rows: readonly Row[],
): { closest: Row; miss: number } {
  const worse = (s: Row) => Math.max(s.goal!.avoidable, s.goal!.waste);
  const better = (s: Row) => Math.min(s.goal!.avoidable, s.goal!.waste);
  const closer = (a: Row, b: Row) => worse(b) < worse(a) || (worse(b) === worse(a) && better(b) < better(a));
  const closest = rows.reduce((a, b) => (closer(a, b) ? b : a));
  return { closest, miss: worse(closest) / GOAL_SHARE };
}

/** Where one swept policy's frontier crosses avoidable = waste (both × hybrid), or why it does not. */
export interface FrontierCrossing {
  /** The sweep's group label, e.g. `forewarm (price swept)`. */
  group: string;
  /** The crossing, interpolated linearly between the two sweep points that bracket it. */
  at?: { value: number; times: number; between: [number, number] };
  /** No crossing inside the sweep: the axis that stays the worse one at every point. */
  worseAxis?: "avoidable" | "waste";
}

/**
 * Each sweep's crossing of avoidable = waste on the frontier (the axes × hybrid): the one figure that
 * says how far a frontier is from the goal without depending on how fine the sweep's steps are — at
 * or under GOAL_SHARE the goal lies on the interpolated frontier (a point near it may still miss by a
 * hair, or meet it by one). Where the sweep crosses more than once (noise between close points), the
 * lowest crossing is the one reported. Bounds, unswept runs and sweeps of fewer than two points have
 * none.
 */
export function frontierCrossings(
  runs: readonly { group: string; sweepValue?: number }[],
  scores: readonly { bound?: boolean; goal?: GoalStanding }[],
): FrontierCrossing[] {
  const groups = new Map<string, { value: number; a: number; w: number }[]>();
  runs.forEach((run, i) => {
    const s = scores[i];
    if (run.sweepValue === undefined || !s?.goal || s.bound) return;
    if (!Number.isFinite(s.goal.avoidable) || !Number.isFinite(s.goal.waste)) return;
    const points = groups.get(run.group) ?? [];
    points.push({ value: run.sweepValue, a: s.goal.avoidable, w: s.goal.waste });
    groups.set(run.group, points);
  });
  const out: FrontierCrossing[] = [];
  for (const [group, points] of groups) {
    if (points.length < 2) continue;
    points.sort((p, q) => p.value - q.value);
    let best: FrontierCrossing["at"];
    for (let i = 0; i + 1 < points.length; i++) {
      const p = points[i]!;
      const q = points[i + 1]!;
      const dp = p.a - p.w;
      const dq = q.a - q.w;
      if (dp !== 0 && dq !== 0 && Math.sign(dp) === Math.sign(dq)) continue;
      const t = dp === dq ? 0 : dp / (dp - dq);
      const times = p.a + t * (q.a - p.a);
      if (!best || times < best.times)
        best = { value: p.value + t * (q.value - p.value), times, between: [p.value, q.value] };
    }
    if (best) out.push({ group, at: best });
    else out.push({ group, worseAxis: points[0]!.a > points[0]!.w ? "avoidable" : "waste" });
  }
  return out;
}

/** One line per crossing, for under the M1 table. */
export function crossingSummary(crossings: readonly FrontierCrossing[], param: string): string {
  return crossings
    .map((c) =>
      c.at
        ? `${c.group} crosses avoidable = waste at ${c.at.times.toFixed(3)}× hybrid (${param} ≈ ${c.at.value.toFixed(3)}, interpolated between ${c.at.between[0]} and ${c.at.between[1]}): ${(c.at.times / GOAL_SHARE).toFixed(3)}× the goal`
        : `${c.group} does not cross avoidable = waste in the sweep: its ${c.worseAxis === "avoidable" ? "avoidable cold starts" : "waste"} stay the worse axis at every point`,
    )
    .join("\n");
}

import { formatTimes, type GoalStanding } from "./goal.js";
import type { M1Score } from "./m1.js";
import type { M2Score } from "./m2.js";

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function fixed(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : "n/a";
}

function grouped(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return "n/a";
  return new Intl.NumberFormat("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(v);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The ratios to hybrid, marked ✓ where the run meets the goal (two decimals can read 0.50 either way). */
function goalCell(goal: GoalStanding | undefined): string {
  if (!goal) return "";
  return `${formatTimes(goal.avoidable)} / ${formatTimes(goal.waste)}${goal.meets ? " ✓" : "  "}`;
}

export function m1Table(scores: readonly M1Score[]): string {
  const header = [
    "policy",
    "apps",
    "invocations",
    "cold starts",
    "avoidable",
    "cold %",
    "app p50",
    "p75",
    "p90",
  ];
  header.push("wasted MB·min", "waste (fixed 10=100)", "× hybrid (avoidable / waste, ✓ goal met)");
  const rows = scores.map((s) => [
    s.name,
    int.format(s.apps),
    int.format(s.invocations),
    int.format(s.coldStarts),
    int.format(s.avoidableColdStarts),
    fixed(s.coldPctOverall, 3),
    fixed(s.appColdPct.p50, 2),
    fixed(s.appColdPct.p75, 2),
    fixed(s.appColdPct.p90, 2),
    grouped(Math.round(s.wastedMbMin)),
    fixed(s.wastedNormPct, 1),
    goalCell(s.goal),
  ]);
  return table(header, rows);
}

export function m2Table(scores: readonly M2Score[]): string {
  const header = [
    "policy",
    "invocations",
    "cold starts",
    "warm",
    "cold %",
    "envs created",
    "latency p50 s",
    "p90",
  ];
  header.push("p99", "wasted MB·s", "peak MB");
  // Held against the goal (a replay with hybrid): avoidable cold starts and the ratios to hybrid.
  const held = scores.some((s) => s.goal);
  if (held) header.push("avoidable", "× hybrid (avoidable / waste, ✓ goal met)");
  const rows = scores.map((s) => [
    s.name,
    int.format(s.invocations),
    int.format(s.coldStarts),
    int.format(s.warm),
    fixed(s.coldPct, 3),
    int.format(s.environmentsCreated),
    fixed(s.startLatency.p50, 3),
    fixed(s.startLatency.p90, 3),
    fixed(s.startLatency.p99, 3),
    grouped(s.wastedMbS, 3),
    grouped(s.peakMemoryMb, 1),
    ...(held
      ? [s.avoidableColdStarts === undefined ? "" : int.format(s.avoidableColdStarts), goalCell(s.goal)]
      : []),
  ]);
  return table(header, rows);
}

/** The JSON fields of issue 4, exactly, per policy. */
export function m1Json(scores: readonly M1Score[]): object[] {
  return scores.map((s) => ({
    name: s.name,
    apps: s.apps,
    invocations: s.invocations,
    coldStarts: s.coldStarts,
    avoidableColdStarts: s.avoidableColdStarts,
    coldPctOverall: s.coldPctOverall,
    appColdPct: { p50: s.appColdPct.p50, p75: s.appColdPct.p75, p90: s.appColdPct.p90 },
    wastedMbMin: s.wastedMbMin,
    wastedNormPct: s.wastedNormPct,
    bound: s.bound,
    ...(s.scoredAfterMinute === undefined ? {} : { scoredAfterMinute: s.scoredAfterMinute }),
    ...(s.goal ? { goal: s.goal } : {}),
  }));
}

export function m2Json(scores: readonly M2Score[]): object[] {
  return scores.map((s) => ({ ...s }));
}

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { GoalStanding } from "./goal.js";
import type { M1Score } from "./m1.js";
import type { M2Score } from "./m2.js";
import type { SweptSpec } from "./sweep.js";

interface Series {
  label: string;
  points: { x: number; y: number }[];
  line: boolean;
}

const CDF_STEPS = 200;
const MAX_CDF_SERIES = 12;

/**
 * A self-contained HTML report: uPlot (script and CSS inlined, no network) with a Pareto plot of
 * cold starts against wasted memory-time (one point per policy, sweeps joined as a frontier; in M1 also
 * hybrid and fixed 10 as references when not listed, and issue 7's goal point) and, for M1, per-app
 * cold-start % CDFs.
 */
export function writeReport(
  file: string,
  title: string,
  specs: readonly SweptSpec[],
  m1?: M1Score[],
  m2?: M2Score[],
  references?: { hybrid: M1Score; fixed10: M1Score },
) {
  const require = createRequire(import.meta.url);
  const js = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
  const css = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  const points = m1
    ? m1.map((s) => ({ x: s.wastedMbMin, y: s.coldStarts }))
    : (m2 ?? []).map((s) => ({ x: s.wastedMbS, y: s.coldStarts }));
  const groups = new Map<string, Series>();
  specs.forEach((spec, i) => {
    const g = groups.get(spec.group) ?? {
      label: spec.group,
      points: [],
      line: spec.sweepValue !== undefined,
    };
    groups.set(spec.group, g);
    if (points[i]) g.points.push(points[i]!);
  });
  // The references every row is held against (when the replay ran them without listing them), and
  // the goal point.
  if (m1 && references)
    for (const r of [references.fixed10, references.hybrid])
      if (!specs.some((s) => s.label === r.name))
        groups.set(`${r.name} (reference)`, {
          label: `${r.name} (reference)`,
          points: [{ x: r.wastedMbMin, y: r.coldStarts }],
          line: false,
        });
  if (m1 && references)
    groups.set(GOAL_LABEL, { label: GOAL_LABEL, points: [goalPoint(references.hybrid)], line: false });
  const cdfs = (m1 ?? []).filter((_, i) => specs[i]?.sweepValue === undefined).slice(0, MAX_CDF_SERIES);
  const data = {
    title,
    // M1: against the references the replay ran; M2: against a listed hybrid (its goal columns).
    againstHybrid: againstHybrid(
      specs,
      m1 ?? m2 ?? [],
      references ? [references.fixed10, references.hybrid] : [],
    ),
    goalReach: GOAL_CHART_REACH,
    wasteUnit: m1 ? "wasted MB·min" : "wasted MB·s",
    pareto: [...groups.values()],
    cdfX: Array.from({ length: CDF_STEPS + 1 }, (_, i) => (100 * i) / CDF_STEPS),
    cdfs: cdfs.map((s) => ({ label: s.name, y: cdf(s.appColdPctSorted) })),
  };
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${css}\nbody{font-family:system-ui,sans-serif;margin:24px}h2{margin-top:32px}</style>
<script>${js}</script></head><body>
<h1>${escapeHtml(title)}</h1>
<h2>Cold starts against ${data.wasteUnit}</h2><div id="pareto"></div>
${data.againstHybrid.length ? '<h2>Against the goal: avoidable cold starts and waste × hybrid\'s</h2><div id="goal"></div>' : ""}
${data.cdfs.length ? '<h2>Per-app cold-start % (CDF over apps)</h2><div id="cdf"></div>' : ""}
<script>
const D = ${JSON.stringify(data).replace(/</g, "\\u003c")};
${CLIENT_SCRIPT}
</script></body></html>`;
  writeFileSync(file, html);
}

export const GOAL_LABEL = "goal: ½ hybrid's avoidable cold starts at ½ its waste";

/**
 * Issue 7's goal as a point, from the plain hybrid histogram's score: half its avoidable cold starts
 * (on top of the oracle's: one per app, or per app first seen in a scored window) at half its waste. A
 * policy meets it at or below-left.
 */
export function goalPoint(h: M1Score): { x: number; y: number } {
  const oracle = h.coldStarts - h.avoidableColdStarts;
  return { x: h.wastedMbMin / 2, y: oracle + h.avoidableColdStarts / 2 };
}

/** The goal chart shows 0–1.25× hybrid on both axes: the goal, hybrid and what lies between. */
const GOAL_CHART_REACH = 1.25;

/**
 * The same runs in the goal's coordinates: waste and avoidable cold starts × the hybrid histogram's,
 * the goal at (½, ½), hybrid at (1, 1), and the line avoidable = waste on which a balanced frontier
 * crosses it (goal.ts, frontierCrossings). Bounds are left out; none when hybrid has nothing on an axis
 * (no ratio to draw).
 */
function againstHybrid(
  specs: readonly SweptSpec[],
  rows: readonly { name: string; bound?: boolean; goal?: GoalStanding }[],
  references: readonly { name: string; goal?: GoalStanding }[],
): Series[] {
  const hybrid = [...rows, ...references].find((r) => r.name === "hybrid");
  // Hybrid held against itself is (1, 1) unless it has nothing on an axis (0 ÷ 0 = 0): no ratios then.
  if (hybrid?.goal?.avoidable !== 1 || hybrid.goal.waste !== 1) return [];
  const at = (g: GoalStanding) => ({ x: g.waste, y: g.avoidable });
  const groups = new Map<string, Series>();
  specs.forEach((spec, i) => {
    const s = rows[i];
    if (!s?.goal || s.bound) return;
    const g = groups.get(spec.group) ?? {
      label: spec.group,
      points: [],
      line: spec.sweepValue !== undefined,
    };
    groups.set(spec.group, g);
    g.points.push(at(s.goal));
  });
  for (const r of references)
    if (r.goal && !specs.some((s) => s.label === r.name))
      groups.set(r.name, { label: `${r.name} (reference)`, points: [at(r.goal)], line: false });
  groups.set(GOAL_LABEL, { label: GOAL_LABEL, points: [{ x: 0.5, y: 0.5 }], line: false });
  groups.set("=", {
    label: "avoidable = waste",
    points: [
      { x: 0, y: 0 },
      { x: GOAL_CHART_REACH, y: GOAL_CHART_REACH },
    ],
    line: true,
  });
  return [...groups.values()];
}

/** Fraction of apps whose cold % is ≤ x, on a 0..100 grid. */
function cdf(sorted: Float64Array): number[] {
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i <= CDF_STEPS; i++) {
    const x = (100 * i) / CDF_STEPS;
    while (k < sorted.length && sorted[k]! <= x + 1e-9) k++;
    out.push(sorted.length ? k / sorted.length : 0);
  }
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

// Runs in the browser. uPlot needs one shared, sorted x array: union the x values and leave nulls.
const CLIENT_SCRIPT = `
const palette = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf"];
// One colour per label on both charts; the avoidable = waste guide in grey, without markers.
const colours = new Map(D.pareto.map((s, i) => [s.label, palette[i % palette.length]]));
const colourOf = label => label === "avoidable = waste" ? "#999" : colours.get(label) ?? palette[colours.size % palette.length];
function scatter(el, title, xLabel, yLabel, groups, reach) {
  const xs = [...new Set(groups.flatMap(s => s.points.map(p => p.x)))].sort((a, b) => a - b);
  const ys = groups.map(s => { const m = new Map(s.points.map(p => [p.x, p.y])); return xs.map(x => m.has(x) ? m.get(x) : null); });
  new uPlot({ title, width: 900, height: 480,
    scales: reach ? { x: { time: false, range: [0, reach] }, y: { range: [0, reach] } } : { x: { time: false } },
    axes: [{ label: xLabel }, { label: yLabel, size: 80 }],
    series: [{ label: xLabel }, ...groups.map(s => ({ label: s.label, stroke: colourOf(s.label),
      width: s.line ? 1 : 0, spanGaps: true, points: { show: s.label !== "avoidable = waste", size: 8, fill: colourOf(s.label) } }))] },
    [xs, ...ys], document.getElementById(el));
}
scatter("pareto", "Pareto: fewer cold starts for less waste is better", D.wasteUnit, "cold starts", D.pareto);
if (D.againstHybrid.length) scatter("goal", "× hybrid: at or below-left of the goal point meets it (beyond " + D.goalReach + "× off the chart)",
  "waste × hybrid's", "avoidable cold starts × hybrid's", D.againstHybrid, D.goalReach);
if (D.cdfs.length) new uPlot({ title: "share of apps with cold % ≤ x", width: 900, height: 400,
  scales: { x: { time: false }, y: { range: [0, 1] } },
  axes: [{ label: "per-app cold start %" }, { label: "share of apps" }],
  series: [{ label: "cold %" }, ...D.cdfs.map(c => ({ label: c.label, stroke: colourOf(c.label), width: 2 }))] },
  [D.cdfX, ...D.cdfs.map(c => c.y)], document.getElementById("cdf"));
`;

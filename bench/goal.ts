/**
 * Where the forewarm policy stands against issue 7's goal on each dev trace, in one run: a price sweep
 * beside hybrid, fixed 10-minute keep-alive and the oracle in model M1, scored from the trace's first
 * minute and again after a warm-up, exactly as `forewarm replay --sweep … [--score-after-minute T]`
 * would (the same replay code). Prints, per trace and scoring, the frontier's crossing of avoidable =
 * waste (× hybrid, interpolated), the closest sweep point, the prices that meet the goal and whether
 * any point is worse than fixed 10 on both axes — the README's summary table — and writes one HTML
 * page per replay (Pareto plot with the goal point) and the rows as JSON.
 *
 *   npm run bench:goal [-- --out DIR] [--only google,azure,nasa]
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SingleBar } from "cli-progress";
import { frontierCrossings, GOAL_SHARE } from "../src/sim/goal.js";
import { type LoadOptions, loadTrace } from "../src/sim/loaders/index.js";
import type { M1Score } from "../src/sim/m1.js";
import { writeReport } from "../src/sim/report-html.js";
import { replayLoaded } from "../src/sim/run.js";

interface TraceSetup {
  key: string;
  title: string;
  load: LoadOptions;
  /** Price grid: wide enough for both the first-minute and the warmed-up balance points. */
  sweep: string;
  /** Minutes learnt before the second scoring starts (the README's warm-ups). */
  warmUp: { minute: number; what: string };
}

function projectRoot(): string {
  const fromFile = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  return existsSync(join(fromFile, "package.json")) ? fromFile : process.cwd();
}

const traces = resolve(projectRoot(), "../shared/traces");
const SETUPS: TraceSetup[] = [
  {
    key: "google",
    title: "Google days 1–7",
    load: { format: "google2011-jobs", trace: join(traces, "google2011-jobs-days01-07.csv.gz") },
    sweep: "price=1.2..2.6:0.05",
    warmUp: { minute: 4320, what: "3 days" },
  },
  {
    key: "azure",
    title: "Azure 2019, 500 functions, 8 h",
    load: {
      format: "azure2019",
      invocations: join(traces, "azure2019-500fn-8h/invocations.csv"),
      memory: join(traces, "azure2019-500fn-8h/memory.csv"),
    },
    sweep: "price=2..4:0.05",
    warmUp: { minute: 720, what: "4 hours" },
  },
  {
    key: "nasa",
    title: "NASA iPSC, 3 months",
    load: { format: "swf", trace: join(traces, "nasa-ipsc-1993.swf.gz") },
    sweep: "price=1..2.4:0.05",
    warmUp: { minute: 66240, what: "46 days" },
  },
];

interface Standing {
  trace: string;
  scored: string;
  crossing: { price: number; times: number; ofGoal: number } | null;
  crossingNote?: string;
  closest: { label: string; avoidable: number; waste: number; ofGoal: number };
  meeting: string[];
  worseThanFixed10: string[];
  hybrid: { avoidable: number; wastedMbMin: number };
  report: string;
}

const { values } = parseArgs({
  options: { out: { type: "string", default: "bench-results" }, only: { type: "string" } },
});
const only = values.only?.split(",").map((s) => s.trim());
const unknown = only?.filter((k) => !SETUPS.some((s) => s.key === k)) ?? [];
if (unknown.length > 0) {
  console.error(`--only: unknown trace ${unknown.join(", ")} (google, azure, nasa)`);
  process.exit(2);
}
const out = resolve(values.out);
mkdirSync(out, { recursive: true });

const standings: Standing[] = [];
for (const setup of SETUPS.filter((s) => !only || only.includes(s.key))) {
  const loaded = await loadTrace(setup.load);
  for (const after of [undefined, setup.warmUp.minute]) {
    const scored = after === undefined ? "from the first minute" : `after ${setup.warmUp.what} learnt`;
    // A bar on a terminal, as the CLI's replay; a line per replay otherwise (CI logs).
    const bar = process.stderr.isTTY
      ? new SingleBar({
          stream: process.stderr,
          format: `${setup.key}, ${scored} {bar} {percentage}% {value}/{total} busy minutes`,
        })
      : undefined;
    const started = performance.now();
    let shown = false;
    const result = replayLoaded(loaded, {
      policies: "oracle,fixed:ka=10,hybrid,forewarm",
      sweep: setup.sweep,
      scoreAfterMinute: after,
      onProgress: (done, total) => {
        if (!shown) bar?.start(total, 0);
        shown = true;
        bar?.update(done);
      },
    });
    bar?.stop();
    if (!bar)
      process.stderr.write(
        `${setup.key}, ${scored}: ${result.specs.length} runs replayed in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
    const m1 = result.m1!;
    const report = join(out, `goal-${setup.key}-${after === undefined ? "start" : "warm"}.html`);
    writeReport(
      report,
      `${setup.title}, ${scored}: forewarm (price swept) against issue 7's goal`,
      result.specs,
      m1,
      undefined,
      result.references,
    );
    standings.push(standingOf(setup.title, scored, result.specs, m1, result.references!.hybrid, report));
  }
}

function standingOf(
  trace: string,
  scored: string,
  specs: readonly { group: string; sweepValue?: number }[],
  m1: readonly M1Score[],
  hybrid: M1Score,
  report: string,
): Standing {
  const swept = m1.filter((_, i) => specs[i]!.sweepValue !== undefined);
  const [crossing] = frontierCrossings(specs, m1);
  const worse = (s: M1Score) => Math.max(s.goal!.avoidable, s.goal!.waste);
  const closest = swept.reduce((a, b) => (worse(b) < worse(a) ? b : a));
  return {
    trace,
    scored,
    crossing: crossing?.at
      ? { price: crossing.at.value, times: crossing.at.times, ofGoal: crossing.at.times / GOAL_SHARE }
      : null,
    ...(crossing?.worseAxis ? { crossingNote: `no crossing: ${crossing.worseAxis} worse everywhere` } : {}),
    closest: {
      label: closest.name,
      avoidable: closest.goal!.avoidable,
      waste: closest.goal!.waste,
      ofGoal: worse(closest) / GOAL_SHARE,
    },
    meeting: swept.filter((s) => s.goal!.meets).map((s) => s.name),
    worseThanFixed10: m1.filter((s) => s.goal!.worseThanFixed10 && !s.bound).map((s) => s.name),
    hybrid: { avoidable: hybrid.avoidableColdStarts, wastedMbMin: hybrid.wastedMbMin },
    report,
  };
}

const priceOf = (label: string) => /price=([\d.]+)/.exec(label)?.[1] ?? label;
console.log(
  "\n| trace | scored | crossing avoidable = waste (× hybrid) | × the goal | closest point (avoidable × / waste ×) | prices meeting the goal | worse than fixed 10 on both |",
);
console.log("|---|---|---|---|---|---|---|");
for (const s of standings) {
  const crossing = s.crossing
    ? `${s.crossing.times.toFixed(3)} at price ${s.crossing.price.toFixed(2)}`
    : (s.crossingNote ?? "");
  const ofGoal = s.crossing ? s.crossing.ofGoal.toFixed(3) : "";
  const closest = `price ${priceOf(s.closest.label)}: ${s.closest.avoidable.toFixed(2)} / ${s.closest.waste.toFixed(2)} (${s.closest.ofGoal.toFixed(3)}×)`;
  const meeting = s.meeting.length > 0 ? s.meeting.map(priceOf).join(", ") : "none";
  const worse = s.worseThanFixed10.length > 0 ? s.worseThanFixed10.map(priceOf).join(", ") : "none";
  console.log(`| ${s.trace} | ${s.scored} | ${crossing} | ${ofGoal} | ${closest} | ${meeting} | ${worse} |`);
}
writeFileSync(join(out, "goal.json"), `${JSON.stringify(standings, null, 2)}\n`);
console.log(`\npages (Pareto plot with the goal point) and goal.json in ${out}`);

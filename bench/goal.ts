/**
 * Where the forewarm policy stands against issue 7's goal on each dev trace, in one run: a price sweep
 * beside hybrid, fixed 10-minute keep-alive and the oracle in model M1, scored from the trace's first
 * minute and again after a warm-up, exactly as `forewarm replay --sweep … [--score-after-minute T]`
 * would (the same replay code). Prints, per trace and scoring, the frontier's crossing of avoidable =
 * waste (× hybrid, interpolated), the closest sweep point, the prices that meet the goal and whether
 * any point is worse than fixed 10 on both axes — the README's summary table — and writes one HTML
 * page per replay (Pareto plot with the goal point) and the rows as JSON. With `--model m2` the same in
 * model M2 (hybrid and the oracle there: src/sim/policy-windows.ts, m2-oracle.ts), from the first
 * minute only (M2 has no warm-up scoring) and for Azure and NASA (Google's 18,000 apps are beyond the
 * planner replay's reach: it plans every app every 5 s).
 *
 *   npm run bench:goal [-- --out DIR] [--only google,azure,nasa] [--model m2]
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SingleBar } from "cli-progress";
import { closestToGoal, frontierCrossings, GOAL_SHARE, type GoalStanding } from "../src/sim/goal.js";
import { type LoadOptions, loadTrace } from "../src/sim/loaders/index.js";
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
  /** M2: what the events need beside `load` (run times), and the price grid; none = not in M2. */
  m2?: { load: Partial<LoadOptions>; sweep: string };
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
    m2: { load: { durations: join(traces, "azure2019-500fn-8h/durations.csv") }, sweep: "price=0.5..4:0.5" },
  },
  {
    key: "nasa",
    title: "NASA iPSC, 3 months",
    load: { format: "swf", trace: join(traces, "nasa-ipsc-1993.swf.gz") },
    sweep: "price=1..2.4:0.05",
    warmUp: { minute: 66240, what: "46 days" },
    m2: { load: {}, sweep: "price=1..4:0.5" },
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
  hybrid: { avoidable: number; waste: number };
  report: string;
}

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "bench-results" },
    only: { type: "string" },
    model: { type: "string", default: "m1" },
  },
});
if (values.model !== "m1" && values.model !== "m2") {
  console.error(`--model: m1 or m2, got '${values.model}'`);
  process.exit(2);
}
const m2 = values.model === "m2";
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
  if (m2 && !setup.m2) {
    process.stderr.write(`${setup.key}: not replayed in M2 (too many apps for the planner replay)\n`);
    continue;
  }
  const loaded = await loadTrace(m2 ? { ...setup.load, ...setup.m2!.load, wantEvents: true } : setup.load);
  for (const after of m2 ? [undefined] : [undefined, setup.warmUp.minute]) {
    const scored = after === undefined ? "from the first minute" : `after ${setup.warmUp.what} learnt`;
    const what = m2 ? "invocations × runs" : "busy minutes";
    // A bar on a terminal, as the CLI's replay; a line per replay otherwise (CI logs).
    const bar = process.stderr.isTTY
      ? new SingleBar({
          stream: process.stderr,
          format: `${setup.key}, ${scored} {bar} {percentage}% {value}/{total} ${what}`,
        })
      : undefined;
    const started = performance.now();
    let shown = false;
    const result = replayLoaded(loaded, {
      model: m2 ? "m2" : "m1",
      policies: "oracle,fixed:ka=10,hybrid,forewarm",
      sweep: m2 ? setup.m2!.sweep : setup.sweep,
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
    const model = m2 ? "m2" : after === undefined ? "start" : "warm";
    const report = join(out, `goal-${setup.key}-${model}.html`);
    writeReport(
      report,
      `${setup.title}, ${m2 ? "M2" : "M1"}, ${scored}: forewarm (price swept) against issue 7's goal`,
      result.specs,
      result.m1,
      result.m2,
      result.references,
    );
    const scores = result.m1 ?? result.m2!;
    // The goal's yardstick: hybrid's avoidable cold starts and waste (listed in M2, a reference in M1).
    const h = result.references?.hybrid;
    const h2 = result.m2?.find((s) => s.name === "hybrid");
    const hybrid = h
      ? { avoidable: h.avoidableColdStarts, waste: h.wastedMbMin }
      : { avoidable: h2!.avoidableColdStarts!, waste: h2!.wastedMbS };
    standings.push(standingOf(setup.title, scored, result.specs, scores, hybrid, report));
  }
}

function standingOf(
  trace: string,
  scored: string,
  specs: readonly { group: string; sweepValue?: number }[],
  scores: readonly { name: string; bound?: boolean; goal?: GoalStanding }[],
  hybrid: { avoidable: number; waste: number },
  report: string,
): Standing {
  const swept = scores.filter((_, i) => specs[i]!.sweepValue !== undefined);
  const [crossing] = frontierCrossings(specs, scores);
  const { closest, miss } = closestToGoal(swept);
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
      ofGoal: miss,
    },
    meeting: swept.filter((s) => s.goal!.meets).map((s) => s.name),
    worseThanFixed10: scores.filter((s) => s.goal!.worseThanFixed10 && !s.bound).map((s) => s.name),
    hybrid,
    report,
  };
}

const priceOf = (label: string) => /price=([\d.]+)/.exec(label)?.[1] ?? label;
console.log(`\nmodel ${m2 ? "M2" : "M1"}`);
console.log(
  "| trace | scored | crossing avoidable = waste (× hybrid) | × the goal | closest point (avoidable × / waste ×) | prices meeting the goal | worse than fixed 10 on both |",
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
writeFileSync(join(out, `goal-${m2 ? "m2" : "m1"}.json`), `${JSON.stringify(standings, null, 2)}\n`);
console.log(
  `\npages (Pareto plot${m2 ? "" : " and the runs around the goal point"}) and goal-${m2 ? "m2" : "m1"}.json in ${out}`,
);

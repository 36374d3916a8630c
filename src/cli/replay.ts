import { SingleBar } from "cli-progress";
import { type Command, Option } from "commander";
import { m1Json, m1Table, m2Json, m2Table } from "../sim/format.js";
import { crossingSummary, frontierCrossings, goalSummary } from "../sim/goal.js";
import { checkLoadOptions } from "../sim/loaders/index.js";
import { policyNames } from "../sim/policies/registry.js";
import { writeReport } from "../sim/report-html.js";
import { loadAndReplay, M1_REFERENCES, type Model, type ReplayResult, resolveSpecs } from "../sim/run.js";
import { parseSweep } from "../sim/sweep.js";
import {
  addTraceOptions,
  checkOutputFile,
  FORMAT_HELP,
  numberOption,
  type TraceCliOptions,
} from "./trace-options.js";

interface ReplayCliOptions extends TraceCliOptions {
  format: string;
  /** Undefined: the default list of the model. */
  policies?: string;
  model: Model;
  json?: boolean;
  decisions?: string;
  untilMinute?: number;
  scoreAfterMinute?: number;
  report?: string;
  sweep?: string;
  coldStartLatency?: number;
}

// forewarm beside the baselines it is held against, so that a replay with no --policies says where it stands.
const DEFAULT_POLICIES = "fixed:ka=10,fixed:ka=60,fixed:ka=240,no-unload,hybrid,oracle,forewarm";
/** M2: the fixed keep-alives, the two planners, and hybrid and the oracle, which the goal is held against. */
const DEFAULT_M2_POLICIES =
  "fixed:ka=0,fixed:ka=1,fixed:ka=10,fixed:ka=60,no-unload,forecast,forewarm,hybrid,oracle";

/** `forewarm replay`: a trace in virtual time under M1 or M2, beside the standard baselines. */
export function registerReplay(program: Command): void {
  const cmd = program
    .command("replay")
    .description(
      "Replay a trace in virtual time beside the standard baselines (design.md, Evaluation methodology).",
    )
    .requiredOption("--format <format>", FORMAT_HELP);
  addTraceOptions(cmd)
    .option(
      "--policies <list>",
      `policies name[:k=v,…], comma-separated (known: ${policyNames().join(", ")}; forecast in M2 only, hindsight in M1 only) (default M1: "${DEFAULT_POLICIES}", M2: "${DEFAULT_M2_POLICIES}")`,
    )
    .addOption(
      new Option("--model <model>", "M1 minute model or M2 event model").choices(["m1", "m2"]).default("m1"),
    )
    .option("--json", "print JSON instead of a table")
    .option("--decisions <file>", "M1: write every decision as JSON lines {policy,app,minute,pw,ka[,bound]}")
    .option(
      "--until-minute <T>",
      "cut the trace after minute T (the trace's own minute numbers)",
      numberOption("--until-minute", { integer: true, what: "a whole minute" }),
    )
    .option(
      "--score-after-minute <T>",
      "M1: score only minutes after T (a held-out test; policies still learn from all minutes)",
      numberOption("--score-after-minute", { integer: true, what: "a whole minute" }),
    )
    .option("--report <file.html>", "write a self-contained HTML report (Pareto plot, per-app CDFs)")
    .option("--sweep <PARAM=a..b[:step]>", "run each listed policy with PARAM over a range (a frontier)")
    .option(
      "--cold-start-latency <seconds>",
      "M2: cold-start latency L",
      numberOption("--cold-start-latency", { min: 0, what: "seconds" }),
      0,
    )
    .action(async (opts: ReplayCliOptions) => {
      // `forewarm replay … | head` closes stdout early: that is not an error worth a stack trace.
      process.stdout.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code !== "EPIPE") throw err;
      });
      const result = await replayFromCli(opts);
      printResult(opts, result);
    });
}

async function replayFromCli(opts: ReplayCliOptions): Promise<ReplayResult> {
  const replayOptions = {
    policies: opts.policies ?? (opts.model === "m2" ? DEFAULT_M2_POLICIES : DEFAULT_POLICIES),
    model: opts.model,
    untilMinute: opts.untilMinute,
    scoreAfterMinute: opts.scoreAfterMinute,
    sweep: opts.sweep,
    decisionsFile: opts.decisions,
    coldStartSeconds: opts.coldStartLatency,
  };
  resolveSpecs(replayOptions);
  checkLoadOptions(opts);
  checkOutputFile("--report", opts.report);
  const bar = process.stderr.isTTY
    ? new SingleBar({
        stream: process.stderr,
        format: `replay {bar} {percentage}% {value}/{total} ${opts.model === "m2" ? "invocations × policies" : "busy minutes"}`,
      })
    : undefined;
  let started = false;
  try {
    return await loadAndReplay(
      { ...opts, wantEvents: opts.model === "m2" },
      {
        ...replayOptions,
        onProgress: (done, total) => {
          if (!bar) return;
          if (!started) bar.start(total, 0);
          started = true;
          bar.update(done);
        },
      },
    );
  } finally {
    if (started) bar?.stop();
  }
}

function printResult(opts: ReplayCliOptions, result: ReplayResult): void {
  for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
  if (result.skippedLines > 0)
    process.stderr.write(`skipped ${result.skippedLines} malformed lines (--skip-bad)\n`);
  if (opts.json) {
    const rows = result.m1 ? m1Json(result.m1) : m2Json(result.m2 ?? []);
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } else {
    process.stdout.write(`${result.m1 ? m1Table(result.m1) : m2Table(result.m2 ?? [])}\n`);
    if (result.m1) {
      const implicit = M1_REFERENCES.filter((l) => !result.specs.some((s) => s.label === l));
      if (implicit.length > 0)
        process.stdout.write(
          `(waste normalised to fixed:ka=10, goal against hybrid; ${implicit.join(" and ")} run implicitly)\n`,
        );
      if (opts.scoreAfterMinute !== undefined)
        process.stdout.write(
          `(scored after minute ${opts.scoreAfterMinute} only: earlier minutes were learnt from, not counted)\n`,
        );
    }
    if (result.m2?.some((s) => s.goal))
      process.stdout.write(
        "(M2 goal: avoidable = cold starts above the M2 oracle's (an app's first instant), waste in MB·s, both × hybrid's; oracle and fixed:ka=10 run implicitly when not listed)\n",
      );
    else if (result.m2)
      process.stdout.write("(list plain `hybrid` to hold M2 runs against issue 7's goal)\n");
    const scores = result.m1 ?? result.m2 ?? [];
    const goal = goalSummary(scores);
    if (goal) process.stdout.write(`${goal}\n`);
    if (opts.sweep) {
      const crossings = crossingSummary(
        frontierCrossings(result.specs, scores),
        parseSweep(opts.sweep).param,
      );
      if (crossings) process.stdout.write(`${crossings}\n`);
    }
    if (result.skippedLines > 0) process.stdout.write(`skipped ${result.skippedLines} malformed lines\n`);
  }
  if (opts.report) {
    const source = opts.trace ?? opts.invocations ?? "";
    writeReport(
      opts.report,
      `forewarm replay ${opts.model.toUpperCase()}: ${source}${opts.scoreAfterMinute === undefined ? "" : `, scored after minute ${opts.scoreAfterMinute}`}`,
      result.specs,
      result.m1,
      result.m2,
      result.references,
    );
    process.stderr.write(`report written to ${opts.report}\n`);
  }
}

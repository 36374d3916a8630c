import fs from "node:fs";
import path from "node:path";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import pg from "pg";
import { SCHEMA_NAME_PATTERN } from "../config/config.js";
import type { BacktestInput, BacktestOptions } from "../forecast/backtest.js";
import { backtestJson, backtestTable, runBacktest } from "../forecast/backtest-run.js";
import { createForecaster, forecasterNames, prepareForecasters } from "../forecast/registry.js";
import { reportSeries, writeForecastReport } from "../forecast/report-html.js";
import { type TraceSeries, traceSeries } from "../forecast/series.js";
import { classifySeries, type SeriesShape, SHAPES } from "../forecast/shape.js";
import { storeSeries } from "../forecast/store-series.js";
import { quoteIdent } from "../history/postgres-migrations.js";
import { PostgresHistoryStore } from "../history/postgres-store.js";
import { SqliteHistoryStore } from "../history/sqlite-store.js";
import type { MinuteRollup } from "../history/store.js";
import { ReplayInputError } from "../sim/errors.js";
import { checkLoadOptions, loadTrace, traceFlagsGiven } from "../sim/loaders/index.js";
import { lastBusyMinute } from "../sim/trace.js";
import {
  addTraceOptions,
  checkOutputFile,
  FORMAT_HELP,
  numberOption,
  type TraceCliOptions,
} from "./trace-options.js";

interface ForecastCliOptions extends TraceCliOptions {
  format?: string;
  history?: string;
  trainUntilMinute?: number;
  trainFraction: number;
  horizon: number;
  origins: number;
  step?: number;
  eventMinutes: number;
  models: string;
  perClass: number;
  json?: boolean;
  report?: string;
}

const DEFAULT_MODELS = "snaive,rate,tsb,croston,interarrival,seasonal,ets,mstl,auto";

const wholeNumber = (flag: string, min: number) => numberOption(flag, { integer: true, min });
const fraction = (flag: string) =>
  numberOption(flag, { min: 0, minExclusive: true, max: 1, maxExclusive: true, what: "a fraction" });

/** `forewarm forecast`: rolling-origin backtest of the forecasting models on a trace. */
export function registerForecast(program: Command): void {
  const cmd = program
    .command("forecast")
    .description("Backtest forecasting models on a trace: MASE, pinball, coverage, P(any in k min) skill.")
    .option("--format <format>", FORMAT_HELP)
    .option(
      "--history <source>",
      "instead of a trace: a server's data directory (SQLite history) or a postgres:// URL",
    );
  addTraceOptions(cmd)
    .option(
      "--train-until-minute <T>",
      "first forecast origin: train on minutes < T",
      wholeNumber("--train-until-minute", 0),
    )
    .option(
      "--train-fraction <f>",
      "train on this fraction of the trace span (without --train-until-minute)",
      fraction("--train-fraction"),
      0.75,
    )
    .option("--horizon <minutes>", "minutes forecast from each origin", wholeNumber("--horizon", 1), 60)
    .option(
      "--origins <n>",
      "number of forecast origins (refits), --step apart",
      wholeNumber("--origins", 1),
      2,
    )
    .option("--step <minutes>", "minutes between origins (default: the horizon)", wholeNumber("--step", 1))
    .option(
      "--event-minutes <k>",
      "window of the 'at least one arrival within k minutes' event",
      wholeNumber("--event-minutes", 1),
      5,
    )
    .option(
      "--models <list>",
      `comma-separated (known: auto, ${forecasterNames().join(", ")})`,
      DEFAULT_MODELS,
    )
    .option(
      "--per-class <n>",
      "series sampled per shape class (every model sees the same ones)",
      wholeNumber("--per-class", 1),
      150,
    )
    .option("--json", "print JSON (metrics per model and per shape class) instead of a table")
    .option(
      "--report <file.html>",
      "write an HTML report: actual against forecasts for busiest and worst series",
    )
    .action(async (opts: ForecastCliOptions) => {
      await forecastFromCli(opts);
    });
}

/** Every per-minute rollup of a server's history: its data directory (SQLite) or a PostgreSQL URL. */
async function readRollups(source: string): Promise<MinuteRollup[]> {
  if (/^postgres(ql)?:\/\//.test(source)) {
    const url = new URL(source);
    const schema = url.searchParams.get("schema") ?? "forewarm";
    url.searchParams.delete("schema");
    // Reading must not create: opening the store migrates, so a misspelt schema became a new, empty
    // history ("no recorded arrivals") instead of an error.
    if (!new RegExp(SCHEMA_NAME_PATTERN).test(schema))
      throw new ReplayInputError(`--history ${source}: schema "${schema}" is not a forewarm schema name`);
    await requireHistorySchema(url.toString(), schema, source);
    const store = await PostgresHistoryStore.open({ connectionString: url.toString(), schema });
    try {
      return await store.rollups();
    } finally {
      await store.close();
    }
  }
  const file = path.join(source, "history.db");
  if (!fs.existsSync(file)) throw new ReplayInputError(`--history ${source}: no history.db there`);
  const store = new SqliteHistoryStore(file);
  try {
    return await store.rollups();
  } finally {
    await store.close();
  }
}

/** Refuses a schema that holds no forewarm history (absent, or without its rollups table). */
async function requireHistorySchema(connectionString: string, schema: string, source: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const r = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [
      `${quoteIdent(schema)}.series_minutes`,
    ]);
    if (r.rows[0]?.t == null)
      throw new ReplayInputError(`--history ${source}: no forewarm history in schema "${schema}"`);
  } finally {
    await client.end();
  }
}

/** Deterministic pseudo-random order of series keys (FNV-1a), so samples do not depend on trace order. */
function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The first and last busy minute over all series. A loop, not `Math.min(...list)`: spreading passes
 * one argument per series, and a trace of ~200,000 series overflows the call stack.
 */
export function busySpan(all: readonly Pick<TraceSeries, "firstBusyMinute" | "lastBusyMinute">[]): {
  first: number;
  last: number;
} {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of all) {
    if (s.firstBusyMinute < first) first = s.firstBusyMinute;
    if (s.lastBusyMinute > last) last = s.lastBusyMinute;
  }
  return { first, last };
}

async function forecastFromCli(opts: ForecastCliOptions): Promise<void> {
  const models = opts.models
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (models.length === 0) throw new ReplayInputError("--models: no model given");
  for (const m of models) createForecaster(m); // unknown names fail before the trace is read
  checkOutputFile("--report", opts.report);
  if ((opts.format === undefined) === (opts.history === undefined)) {
    throw new ReplayInputError(
      "give either --format (with a trace) or --history (a data directory or postgres:// URL)",
    );
  }
  if (opts.format !== undefined) checkLoadOptions({ ...opts, format: opts.format });
  else {
    // The history is the server's recorded rollups: a trace flag beside it would be ignored silently.
    const given = traceFlagsGiven(opts);
    if (given.length > 0)
      throw new ReplayInputError(
        `${given.join(", ")} ${given.length > 1 ? "apply" : "applies"} to a trace (--format), not to --history`,
      );
  }
  await prepareForecasters(models);
  let all: TraceSeries[];
  let end: number;
  if (opts.history !== undefined) {
    all = storeSeries(await readRollups(opts.history));
    if (all.length === 0) throw new ReplayInputError(`--history ${opts.history}: no recorded arrivals`);
    end = busySpan(all).last + 1;
  } else {
    const loaded = await loadTrace({ ...opts, format: opts.format ?? "", wantEvents: false });
    all = traceSeries(loaded.minutes);
    end = lastBusyMinute(loaded.minutes) + 1;
  }
  const { first: start } = busySpan(all);
  const trainUntil = opts.trainUntilMinute ?? start + Math.floor(opts.trainFraction * (end - start));
  const options: BacktestOptions = {
    firstOrigin: trainUntil,
    horizon: opts.horizon,
    origins: opts.origins,
    step: opts.step ?? opts.horizon,
    eventMinutes: opts.eventMinutes,
    seasonPeriod: 0,
  };
  // Classify every series on its training span, then sample the same series per class for all models.
  const byShape = new Map<SeriesShape, Array<{ key: string; i: number }>>();
  let unseen = 0;
  all.forEach((s, i) => {
    if (s.firstBusyMinute >= trainUntil) {
      unseen++;
      return;
    }
    const shape = classifySeries(s.history(start, trainUntil));
    const list = byShape.get(shape) ?? [];
    list.push({ key: s.key, i });
    byShape.set(shape, list);
  });
  const inputs: BacktestInput[] = [];
  const counts: string[] = [];
  for (const shape of SHAPES) {
    const list = byShape.get(shape) ?? [];
    const sample = list.sort((a, b) => hashKey(a.key) - hashKey(b.key)).slice(0, opts.perClass);
    counts.push(`${shape} ${list.length} (sampled ${sample.length})`);
    for (const { i } of sample) inputs.push({ history: all[i]!.history(start, end), shape });
  }
  process.stderr.write(
    `trace minutes ${start}..${end - 1}; first origin ${trainUntil}; ${all.length} series: ${counts.join(", ")}` +
      `; ${unseen} first seen after the origin (not scored)\n`,
  );
  const bar = process.stderr.isTTY
    ? new SingleBar({
        stream: process.stderr,
        format: "forecast {model} {bar} {percentage}% {value}/{total}",
      })
    : undefined;
  bar?.start(models.length * inputs.length, 0, { model: models[0] });
  let run: ReturnType<typeof runBacktest>;
  try {
    run = runBacktest(models, inputs, options, (done, _total, model) => bar?.update(done, { model }));
  } finally {
    bar?.stop();
  }
  const table = backtestTable(run);
  if (opts.json) process.stdout.write(`${JSON.stringify(backtestJson(run), null, 2)}\n`);
  else process.stdout.write(`${table}\n`);
  if (opts.report) {
    const focus = models.includes("auto") ? "auto" : models[0]!;
    const source = opts.trace ?? opts.invocations ?? opts.history ?? "";
    writeForecastReport(opts.report, `forewarm forecast: ${source}`, table, reportSeries(run, focus));
    process.stderr.write(`report written to ${opts.report}\n`);
  }
}

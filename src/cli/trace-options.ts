import { type Command, Option } from "commander";
import { LOADERS } from "../sim/loaders/index.js";
import { type LoadOptions, TIME_FORMATS } from "../sim/loaders/types.js";

/** The trace flags as commander parses them: the loader's options without what the command decides. */
export type TraceCliOptions = Omit<LoadOptions, "wantEvents" | "format">;

/**
 * The trace-source flags shared by `replay` and `forecast` (one loader set, one spelling).
 * `--format` is added by the caller: required for replay, optional beside `--history` for forecast.
 */
export function addTraceOptions(cmd: Command): Command {
  return cmd
    .option("--trace <file>", "trace file, plain or .gz (every format except azure2019)")
    .option("--invocations <file>", "azure2019: per-function minute counts")
    .option("--memory <file>", "azure2019: per-app memory percentiles")
    .option("--durations <file>", "azure2019: per-function durations (M2 task lengths)")
    .option("--map <mapping>", "csv: time=COL,user=COL,type=COL[,duration=COL][,memory=COL]")
    .addOption(new Option("--time-format <format>", "csv: time column format").choices([...TIME_FORMATS]))
    .option("--skip-bad", "skip and count malformed lines instead of stopping at the first");
}

export const FORMAT_HELP = `trace format: ${Object.keys(LOADERS).join(", ")}`;

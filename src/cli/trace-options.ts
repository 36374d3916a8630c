import fs from "node:fs";
import path from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { ReplayInputError } from "../sim/errors.js";
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

/**
 * Refuses an output file that cannot be written (no such directory, a directory, no permission)
 * before the work that produces it: a replay of minutes must not end in "ENOENT".
 */
export function checkOutputFile(flag: string, file: string | undefined): void {
  if (file === undefined) return;
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new ReplayInputError(`${flag} ${file}: no directory ${dir}`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory())
    throw new ReplayInputError(`${flag} ${file}: is a directory`);
  try {
    fs.accessSync(fs.existsSync(file) ? file : dir, fs.constants.W_OK);
  } catch {
    throw new ReplayInputError(`${flag} ${file}: not writable`);
  }
}

export const FORMAT_HELP = `trace format: ${Object.keys(LOADERS).join(", ")}`;

export interface NumberRule {
  /** Whole numbers only (no decimal point). */
  integer?: boolean;
  min?: number;
  /** `min` itself is refused (e.g. a fraction > 0). */
  minExclusive?: boolean;
  max?: number;
  maxExclusive?: boolean;
  /** What the number is, for the message: "a whole number of minutes". */
  what?: string;
}

/**
 * A commander parser for a number option that takes plain decimal text only: `Number()` would read
 * "" and " " as 0, "0x9" as 9 and "1e3" as 1000, so a typo would run with a value nobody wrote.
 * Commander prefixes the message with the option and the quoted value; the message repeats both so
 * it stands alone.
 */
export function numberOption(flag: string, rule: NumberRule = {}): (value: string) => number {
  const what = rule.what ?? (rule.integer ? "a whole number" : "a number");
  const range = [
    rule.min === undefined ? "" : `${rule.minExclusive ? ">" : "≥"} ${rule.min}`,
    rule.max === undefined ? "" : `${rule.maxExclusive ? "<" : "≤"} ${rule.max}`,
  ]
    .filter(Boolean)
    .join(" and ");
  const expected = `expected ${what}${range ? ` ${range}` : ""}`;
  const pattern = rule.integer ? /^-?\d+$/ : /^-?\d+(\.\d+)?$/;
  return (value: string) => {
    const text = value.trim();
    if (text === "")
      throw new InvalidArgumentError(
        `${flag} '${value}' is ${value === "" ? "empty" : "blank"}: ${expected}`,
      );
    if (!pattern.test(text))
      throw new InvalidArgumentError(
        `${flag} '${value}' is not ${rule.integer ? "a whole number in decimal digits" : "a plain decimal number"}: ${expected}`,
      );
    const v = Number(text);
    const tooLow = rule.min !== undefined && (rule.minExclusive ? !(v > rule.min) : !(v >= rule.min));
    const tooHigh = rule.max !== undefined && (rule.maxExclusive ? !(v < rule.max) : !(v <= rule.max));
    if (!Number.isFinite(v) || tooLow || tooHigh)
      throw new InvalidArgumentError(`${flag} '${value}': ${expected}`);
    return v;
  };
}

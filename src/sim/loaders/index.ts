import { ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { loadAzure2019 } from "./azure2019.js";
import { loadAzure2021 } from "./azure2021.js";
import { loadGoogle2011Jobs } from "./google2011.js";
import { loadMappedCsv } from "./mapped-csv.js";
import { loadSwf } from "./swf.js";
import type { Loader, LoadOptions } from "./types.js";

export type { LoadOptions, TimeFormat } from "./types.js";

/** Trace formats by the name `--format` takes. */
export const LOADERS: Readonly<Record<string, Loader>> = {
  azure2019: loadAzure2019,
  azure2021: loadAzure2021,
  "google2011-jobs": loadGoogle2011Jobs,
  swf: loadSwf,
  csv: loadMappedCsv,
};

const AZURE2019_FILES = "--invocations FILE [--memory FILE] [--durations FILE]";

/** Trace options that apply to some formats only (by their LoadOptions key); anywhere else they would be ignored. */
const FORMAT_OPTIONS: readonly {
  key: keyof LoadOptions;
  flag: string;
  applies: (format: string) => boolean;
}[] = [
  { key: "trace", flag: "--trace", applies: (f) => f !== "azure2019" },
  { key: "invocations", flag: "--invocations", applies: (f) => f === "azure2019" },
  { key: "memory", flag: "--memory", applies: (f) => f === "azure2019" },
  { key: "durations", flag: "--durations", applies: (f) => f === "azure2019" },
  { key: "map", flag: "--map", applies: (f) => f === "csv" },
  { key: "timeFormat", flag: "--time-format", applies: (f) => f === "csv" },
];

/** The trace-reading flags set in `options` (a source that is not a trace must refuse them). */
export function traceFlagsGiven(options: Partial<LoadOptions>): string[] {
  const given = FORMAT_OPTIONS.filter(({ key }) => options[key] !== undefined).map(({ flag }) => flag);
  if (options.skipBad) given.push("--skip-bad");
  return given;
}

/**
 * Refuses an unknown format, and an option given for a format it does not apply to (it would be
 * ignored silently). The CLIs call this before any slow start; loadTrace calls it too.
 */
export function checkLoadOptions(options: LoadOptions): Loader {
  const loader = LOADERS[options.format];
  if (!loader) {
    const where = options.trace ?? options.invocations;
    throw new ReplayInputError(
      `${where ? `${where}: ` : ""}unknown format '${options.format}' (expected one of: ${Object.keys(LOADERS).join(", ")})`,
    );
  }
  for (const { key, flag, applies } of FORMAT_OPTIONS) {
    if (options[key] === undefined || applies(options.format)) continue;
    const formats = Object.keys(LOADERS).filter(applies);
    const files = options.format === "azure2019" ? AZURE2019_FILES : "--trace FILE";
    throw new ReplayInputError(
      `${flag} applies to format${formats.length > 1 ? "s" : ""} ${formats.join(", ")} only, not ${options.format} (which takes ${files})`,
    );
  }
  return loader;
}

export async function loadTrace(options: LoadOptions): Promise<LoadedTrace> {
  const loader = checkLoadOptions(options);
  const loaded = await loader(options);
  if (loaded.minutes.invocations === 0) {
    const file = options.trace ?? options.invocations ?? "";
    throw new ReplayInputError(`${file}: no invocations (the file has a header but no usable data lines)`);
  }
  return loaded;
}

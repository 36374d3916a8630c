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

export async function loadTrace(options: LoadOptions): Promise<LoadedTrace> {
  const loader = LOADERS[options.format];
  if (!loader) {
    const where = options.trace ?? options.invocations;
    throw new ReplayInputError(
      `${where ? `${where}: ` : ""}unknown format '${options.format}' (expected one of: ${Object.keys(LOADERS).join(", ")})`,
    );
  }
  if (options.format !== "azure2019" && options.invocations) {
    throw new ReplayInputError(`--invocations is for azure2019; format ${options.format} takes --trace FILE`);
  }
  const loaded = await loader(options);
  if (loaded.minutes.invocations === 0) {
    const file = options.trace ?? options.invocations ?? "";
    throw new ReplayInputError(`${file}: no invocations (the file has a header but no usable data lines)`);
  }
  return loaded;
}

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTrace } from "../../src/sim/loaders/index.js";
import type { LoadedTrace } from "../../src/sim/trace.js";

/** Project root: dist/test/sim/x.js is three levels below it; fall back to the working directory. */
function projectRoot(): string {
  const fromFile = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  return existsSync(join(fromFile, "package.json")) ? fromFile : process.cwd();
}

/** The shared development traces; never copied into the repository. */
export const TRACES = resolve(projectRoot(), "../shared/traces");
export const AZURE2019 = {
  invocations: join(TRACES, "azure2019-500fn-8h/invocations.csv"),
  memory: join(TRACES, "azure2019-500fn-8h/memory.csv"),
  durations: join(TRACES, "azure2019-500fn-8h/durations.csv"),
};
export const AZURE2021 = join(TRACES, "azure2021-example.csv");
export const GOOGLE2011 = join(TRACES, "google2011-jobs-days01-07.csv.gz");
export const CLI = join(projectRoot(), "dist/src/cli/main.js");

const cache = new Map<string, Promise<LoadedTrace>>();

/** Loads each trace once per test process. */
export function loadOnce(
  key: "azure2019" | "azure2019-events" | "azure2021" | "google",
): Promise<LoadedTrace> {
  let hit = cache.get(key);
  if (!hit) {
    hit =
      key === "azure2019"
        ? loadTrace({ format: "azure2019", ...AZURE2019 })
        : key === "azure2019-events"
          ? loadTrace({ format: "azure2019", ...AZURE2019, wantEvents: true })
          : key === "azure2021"
            ? loadTrace({ format: "azure2021", trace: AZURE2021, wantEvents: true })
            : loadTrace({ format: "google2011-jobs", trace: GOOGLE2011 });
    cache.set(key, hit);
  }
  return hit;
}

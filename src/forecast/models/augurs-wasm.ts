import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { initSync as initEts } from "@bsull/augurs/ets";
import { initSync as initMstl } from "@bsull/augurs/mstl";
import { initSync as initProphet } from "@bsull/augurs/prophet";

const require = createRequire(import.meta.url);
// The package exports only its JS entry points; the .wasm files sit beside them.
const augursDir = dirname(require.resolve("@bsull/augurs/mstl"));
const initialised = new Set<string>();

type Submodule = "mstl" | "ets" | "prophet";
const INIT: Record<Submodule, (m: { module: Buffer }) => unknown> = {
  mstl: initMstl,
  ets: initEts,
  prophet: initProphet,
};

/** Instantiates an augurs submodule once per process (synchronously: Node reads the .wasm bytes). */
export function ensureAugurs(sub: Submodule): void {
  if (initialised.has(sub)) return;
  INIT[sub]({ module: readFileSync(join(augursDir, `${sub}_bg.wasm`)) });
  initialised.add(sub);
}

/** augurs throws strings or Errors from wasm; make them Errors with the model name. */
export function augursError(model: string, err: unknown): Error {
  return new Error(`${model}: ${err instanceof Error ? err.message : String(err)}`);
}

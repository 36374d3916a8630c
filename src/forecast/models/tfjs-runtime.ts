import { createRequire, register } from "node:module";
import { dirname } from "node:path";

export type TfCore = typeof import("@tensorflow/tfjs-core");
export type TfLayers = typeof import("@tensorflow/tfjs-layers");

/**
 * tfjs-core's Node bundle lacks the gradient registrations and chained tensor methods that the full
 * `@tensorflow/tfjs` package adds (layers' LSTM needs both: `flatten`, and gradients for training).
 * Those live only as ESM files with extension-less imports, which Node cannot resolve; this resolve
 * hook appends ".js" for imports made from inside tfjs-core/dist and nowhere else.
 */
const RESOLVE_HOOK = `
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? "";
  if (parent.includes("/@tensorflow/tfjs-core/dist/") && specifier.startsWith(".") && !specifier.endsWith(".js")) {
    try { return await next(specifier + ".js", context); } catch { return next(specifier + "/index.js", context); }
  }
  return next(specifier, context);
}`;

let loaded: Promise<{ tf: TfCore; tfl: TfLayers }> | null = null;

/** Loads tfjs-core + layers on the wasm backend once per process (several seconds the first time). */
export function loadTfjs(): Promise<{ tf: TfCore; tfl: TfLayers }> {
  loaded ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`);
    const tf: TfCore = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-core/dist/register_all_gradients.js" as string);
    await import("@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js" as string);
    const tfl: TfLayers = await import("@tensorflow/tfjs-layers");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const require = createRequire(import.meta.url);
    // setWasmPaths takes a prefix; in Node a directory path with a trailing slash works.
    wasm.setWasmPaths(`${dirname(require.resolve("@tensorflow/tfjs-backend-wasm"))}/`);
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs: wasm backend failed to initialise");
    return { tf, tfl };
  })();
  return loaded;
}

/**
 * Worker thread of JavaScriptAnalyzer: parses one source at a time with the TypeScript compiler and
 * answers under the request's id. An exception (e.g. a stack overflow on deeply nested code) is an
 * answer about that code, not a failure of the worker.
 */
import { parentPort } from "node:worker_threads";
import { analyzeJavaScript } from "./js-analyzer.js";

export interface JsAnalysisRequest {
  id: number;
  source: string;
}

const port = parentPort;
if (port === null) throw new Error("js-analysis-worker runs only as a worker thread");
port.on("message", (req: JsAnalysisRequest) => {
  try {
    port.postMessage({ id: req.id, result: analyzeJavaScript(req.source) });
  } catch (err) {
    port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
});

/**
 * The analysis worker thread (analysis-worker.ts): one request at a time, answered under its id —
 * a JavaScript/TypeScript parse with the TypeScript compiler, or a code fingerprint for the task
 * classifier (any runtime). An exception (e.g. a stack overflow on deeply nested code) is an answer
 * about that code, not a failure of the worker.
 */
import { parentPort } from "node:worker_threads";
import {
  type CodeFingerprint,
  codeFingerprint,
  type FingerprintOptions,
} from "../classify/code-similarity.js";
import type { CodeAnalysis } from "./code-analysis.js";
import { analyzeJavaScript } from "./js-analyzer.js";

/** What the worker is asked: a JS/TS analysis, or a fingerprint of code of any runtime. */
export type AnalysisRequest =
  | { op: "analyze"; source: string }
  | { op: "fingerprint"; runtime: string; source: string; options: FingerprintOptions };

export type AnalysisWorkerRequest = AnalysisRequest & { id: number };

export interface AnalysisWorkerReply {
  id: number;
  result?: CodeAnalysis | CodeFingerprint;
  error?: string;
}

const port = parentPort;
if (port === null) throw new Error("analysis-worker-thread runs only as a worker thread");
port.on("message", (req: AnalysisWorkerRequest) => {
  try {
    const result =
      req.op === "fingerprint"
        ? codeFingerprint(req.runtime, req.source, req.options)
        : analyzeJavaScript(req.source);
    port.postMessage({ id: req.id, result } satisfies AnalysisWorkerReply);
  } catch (err) {
    port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
  }
});

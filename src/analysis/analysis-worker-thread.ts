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

/** The TypeScript compiler is loaded on the first analysis: a thread that only fingerprints never pays for it. */
let jsAnalyzer: Promise<typeof import("./js-analyzer.js")> | null = null;

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
// Answers go out in the order requests came in (the client times the oldest): requests wait on one chain.
let chain: Promise<void> = Promise.resolve();
port.on("message", (req: AnalysisWorkerRequest) => {
  chain = chain.then(async () => {
    try {
      let result: CodeAnalysis | CodeFingerprint;
      if (req.op === "fingerprint") result = codeFingerprint(req.runtime, req.source, req.options);
      else {
        jsAnalyzer ??= import("./js-analyzer.js").catch((err: unknown) => {
          // A failed import stays failed in this thread's module map: end the thread with the error
          // (uncaught, outside this chain), so that the client fails these requests as unavailable,
          // saying why, and starts a fresh thread for the next.
          setImmediate(() => {
            throw err;
          });
          return new Promise<never>(() => {});
        });
        result = (await jsAnalyzer).analyzeJavaScript(req.source);
      }
      port.postMessage({ id: req.id, result } satisfies AnalysisWorkerReply);
    } catch (err) {
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
});

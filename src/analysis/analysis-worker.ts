import { Worker } from "node:worker_threads";
import type { CodeFingerprint, FingerprintOptions } from "../classify/code-similarity.js";
import type {
  AnalysisRequest,
  AnalysisWorkerReply,
  AnalysisWorkerRequest,
} from "./analysis-worker-thread.js";
import type { CodeAnalysis } from "./code-analysis.js";
import { AnalyzerUnavailableError } from "./python-analyzer.js";

export const DEFAULT_ANALYSIS_WORKER = new URL("./analysis-worker-thread.js", import.meta.url);

export interface AnalysisWorkerOptions {
  /**
   * A request the worker has been parsing for this long fails and the worker is terminated (it may be
   * stuck on pathological input); the requests queued behind it go to a fresh worker.
   */
  timeoutMs?: number;
  /** The worker's module (tests replace it). */
  workerUrl?: URL;
}

interface Pending {
  resolve: (r: CodeAnalysis | CodeFingerprint) => void;
  reject: (e: Error) => void;
  /** Kept to post it again to a fresh worker when one before it timed out. */
  request: AnalysisRequest;
}

/** How a request that cannot be answered is described (the caller reports it). */
function unavailable(request: AnalysisRequest, why: string, timedOut = false): AnalyzerUnavailableError {
  const what = request.op === "analyze" ? "javascript analysis" : "code fingerprint";
  return new AnalyzerUnavailableError(`${what} unavailable: ${why}`, timedOut);
}

/**
 * The CPU-heavy reading of task code, in a worker thread: JavaScript/TypeScript analysis (the
 * TypeScript parser is synchronous, ~3 ms per KB: a 1 MB inline source held the server's event loop
 * for seconds) and the classifier's code fingerprints (~0.4 s per MB). One long-lived worker (loading
 * the compiler takes about a second), unref'd while idle so it never keeps the process alive, and
 * like the Python helper terminated on a timeout or crash and restarted lazily: such failures reject
 * with AnalyzerUnavailableError (the caller reports "analysis unavailable" and caches nothing).
 */
export class AnalysisWorker {
  private worker: Worker | null = null;
  /** In the order posted, which is the order the worker parses them (one at a time). */
  private readonly pending = new Map<number, Pending>();
  /** Times the request being parsed (the oldest pending), not the wait of those queued behind it. */
  private watchdog: NodeJS.Timeout | null = null;
  private nextId = 1;
  private readonly timeoutMs: number;
  private readonly workerUrl: URL;

  constructor(options: AnalysisWorkerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.workerUrl = options.workerUrl ?? DEFAULT_ANALYSIS_WORKER;
  }

  /** Resolves with the analysis (or the parser's exception as a failure); rejects only when unavailable. */
  analyze(source: string): Promise<CodeAnalysis> {
    return this.ask({ op: "analyze", source }) as Promise<CodeAnalysis>;
  }

  /** The classifier's fingerprint of `source` (code-similarity.ts), computed off the event loop. */
  fingerprint(runtime: string, source: string, options: FingerprintOptions): Promise<CodeFingerprint> {
    return this.ask({ op: "fingerprint", runtime, source, options }) as Promise<CodeFingerprint>;
  }

  private ask(request: AnalysisRequest): Promise<CodeAnalysis | CodeFingerprint> {
    return new Promise((resolve, reject) => {
      let worker: Worker;
      try {
        worker = this.ensureStarted();
      } catch (err) {
        reject(unavailable(request, (err as Error).message));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject, request });
      this.post(worker, id, request);
      if (!this.watchdog) this.arm();
    });
  }

  private post(worker: Worker, id: number, request: AnalysisRequest): void {
    worker.ref();
    const message: AnalysisWorkerRequest = { id, ...request };
    worker.postMessage(message);
  }

  /** Starts timing the oldest pending request (the one the worker is on), if any. */
  private arm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = this.pending.size > 0 ? setTimeout(() => this.timedOut(), this.timeoutMs) : null;
  }

  /**
   * The request being parsed took too long (pathological input): it fails, the worker (stuck on it)
   * is terminated, and the requests queued behind it go to a fresh one.
   */
  private timedOut(): void {
    this.watchdog = null;
    const head = this.pending.entries().next().value;
    if (!head) return;
    const [id, stuck] = head;
    this.pending.delete(id);
    stuck.reject(unavailable(stuck.request, `timed out after ${this.timeoutMs} ms`, true));
    const old = this.worker;
    this.worker = null;
    void old?.terminate();
    if (this.pending.size === 0) return;
    let worker: Worker;
    try {
      worker = this.ensureStarted();
    } catch (err) {
      this.failAll((err as Error).message);
      return;
    }
    for (const [rest, p] of this.pending) this.post(worker, rest, p.request);
    this.arm();
  }

  /** Stops the worker; pending requests fail. Safe to call repeatedly; a later analyze restarts it. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.failAll("analyzer closed");
    await worker?.terminate();
  }

  private ensureStarted(): Worker {
    if (this.worker) return this.worker;
    // The old generation is bounded so a pathological source fails its analysis, not the server's
    // memory; a 2 MiB source (CodeAnalyzer's default limit) needs about half of it.
    const worker = new Worker(this.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    this.worker = worker;
    worker.on("message", (reply: AnalysisWorkerReply) => this.onReply(reply));
    // Events of a worker already replaced must not touch the requests of its successor.
    worker.on("error", (err) => {
      if (this.worker !== worker) return;
      this.failAll(err.message);
    });
    worker.on("exit", (code) => {
      if (this.worker !== worker) return;
      this.failAll(`worker exited (${code})`);
    });
    worker.unref();
    return worker;
  }

  private onReply(reply: AnalysisWorkerReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    // The worker moves on to the next request: its time starts now.
    this.arm();
    if (reply.result) waiting.resolve(reply.result);
    // Thrown by the parser (e.g. nesting past the stack): the analysis failed, as it did in-process.
    else waiting.reject(new Error(reply.error ?? "no result"));
    if (this.pending.size === 0) this.worker?.unref();
  }

  private failAll(why: string): void {
    const worker = this.worker;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id);
      waiting.reject(unavailable(waiting.request, why));
    }
    // A timed-out worker may be stuck mid-parse; the next request starts a fresh one.
    if (worker) {
      this.worker = null;
      void worker.terminate();
    }
  }
}

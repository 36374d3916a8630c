import { Worker } from "node:worker_threads";
import type { CodeAnalysis } from "./code-analysis.js";
import type { JsAnalysisRequest } from "./js-analysis-worker.js";
import { AnalyzerUnavailableError } from "./python-analyzer.js";

export const DEFAULT_JS_WORKER = new URL("./js-analysis-worker.js", import.meta.url);

export interface JavaScriptAnalyzerOptions {
  /**
   * A request the worker has been parsing for this long fails and the worker is terminated (it may be
   * stuck on pathological input); the requests queued behind it go to a fresh worker.
   */
  timeoutMs?: number;
  /** The worker's module (tests replace it). */
  workerUrl?: URL;
}

interface Pending {
  resolve: (a: CodeAnalysis) => void;
  reject: (e: Error) => void;
  /** Kept to post it again to a fresh worker when one before it timed out. */
  source: string;
}

interface WorkerReply {
  id: number;
  result?: CodeAnalysis;
  error?: string;
}

/**
 * JavaScript/TypeScript analysis in a worker thread. The TypeScript parser is synchronous, ~3 ms per
 * KB: a 1 MB inline source held the server's event loop for seconds. One long-lived worker (loading
 * the compiler takes about a second), unref'd while idle so it never keeps the process alive, and
 * like the Python helper terminated on a timeout or crash and restarted lazily: such failures reject
 * with AnalyzerUnavailableError (the caller reports "analysis unavailable" and caches nothing).
 */
export class JavaScriptAnalyzer {
  private worker: Worker | null = null;
  /** In the order posted, which is the order the worker parses them (one at a time). */
  private readonly pending = new Map<number, Pending>();
  /** Times the request being parsed (the oldest pending), not the wait of those queued behind it. */
  private watchdog: NodeJS.Timeout | null = null;
  private nextId = 1;
  private readonly timeoutMs: number;
  private readonly workerUrl: URL;

  constructor(options: JavaScriptAnalyzerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.workerUrl = options.workerUrl ?? DEFAULT_JS_WORKER;
  }

  /** Resolves with the analysis (or the parser's exception as a failure); rejects only when unavailable. */
  analyze(source: string): Promise<CodeAnalysis> {
    return new Promise((resolve, reject) => {
      let worker: Worker;
      try {
        worker = this.ensureStarted();
      } catch (err) {
        reject(new AnalyzerUnavailableError(`javascript analysis unavailable: ${(err as Error).message}`));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject, source });
      this.post(worker, id, source);
      if (!this.watchdog) this.arm();
    });
  }

  private post(worker: Worker, id: number, source: string): void {
    worker.ref();
    const req: JsAnalysisRequest = { id, source };
    worker.postMessage(req);
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
    stuck.reject(
      new AnalyzerUnavailableError(`javascript analysis unavailable: timed out after ${this.timeoutMs} ms`),
    );
    const old = this.worker;
    this.worker = null;
    void old?.terminate();
    if (this.pending.size === 0) return;
    let worker: Worker;
    try {
      worker = this.ensureStarted();
    } catch (err) {
      this.failAll(
        new AnalyzerUnavailableError(`javascript analysis unavailable: ${(err as Error).message}`),
      );
      return;
    }
    for (const [rest, p] of this.pending) this.post(worker, rest, p.source);
    this.arm();
  }

  /** Stops the worker; pending requests fail. Safe to call repeatedly; a later analyze restarts it. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.failAll(new AnalyzerUnavailableError("javascript analysis unavailable: analyzer closed"));
    await worker?.terminate();
  }

  private ensureStarted(): Worker {
    if (this.worker) return this.worker;
    // The old generation is bounded so a pathological source fails its analysis, not the server's
    // memory; a 2 MiB source (CodeAnalyzer's default limit) needs about half of it.
    const worker = new Worker(this.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    this.worker = worker;
    worker.on("message", (reply: WorkerReply) => this.onReply(reply));
    // Events of a worker already replaced must not touch the requests of its successor.
    worker.on("error", (err) => {
      if (this.worker !== worker) return;
      this.failAll(new AnalyzerUnavailableError(`javascript analysis unavailable: ${err.message}`));
    });
    worker.on("exit", (code) => {
      if (this.worker !== worker) return;
      this.failAll(new AnalyzerUnavailableError(`javascript analysis unavailable: worker exited (${code})`));
    });
    worker.unref();
    return worker;
  }

  private onReply(reply: WorkerReply): void {
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

  private failAll(err: Error): void {
    const worker = this.worker;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id);
      waiting.reject(err);
    }
    // A timed-out worker may be stuck mid-parse; the next request starts a fresh one.
    if (worker) {
      this.worker = null;
      void worker.terminate();
    }
  }
}

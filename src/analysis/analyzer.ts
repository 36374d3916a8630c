import { createHash } from "node:crypto";
import {
  type CodeFingerprint,
  codeFingerprint,
  type FingerprintOptions,
} from "../classify/code-similarity.js";
import { AnalysisWorker } from "./analysis-worker.js";
import { type AnalysisRuntime, type CodeAnalysis, failedAnalysis } from "./code-analysis.js";
import { LruCache } from "./lru-cache.js";
import { AnalyzerUnavailableError, PythonAnalyzer, type PythonAnalyzerOptions } from "./python-analyzer.js";

/** `timeoutMs` bounds a request to either helper: the Python process or the analysis worker thread. */
export interface CodeAnalyzerOptions extends PythonAnalyzerOptions {
  /** Analyses kept, keyed by sha256 of (runtime, source). */
  cacheSize?: number;
  /** Larger sources are not parsed (analysisError says so); bounds the time one request can take. */
  maxSourceBytes?: number;
  /** The analysis worker thread's module (tests replace it). */
  workerUrl?: URL;
}

/** A fingerprint, and why the worker could not compute it when it could not. */
export type FingerprintResult = CodeFingerprint & { unavailable?: string };

const FINGERPRINT_WARM_UP: FingerprintOptions = { shingleSize: 4, minShingles: 24, numHashes: 1 };

/** Sources up to this many UTF-16 units are fingerprinted in-process: ~5 ms, less than queueing. */
const IN_PROCESS_FINGERPRINT = 16 * 1024;
/** Imports kept per analysis (sorted, so the first ones); real code has far fewer. */
export const MAX_IMPORTS = 256;

/** Larger code is typed by its exact source (a line of ~8 Mi characters overflows the tokenizer's stack). */
const MAX_FINGERPRINT = 2 * 1024 * 1024;

/**
 * Static analysis with a result cache. Never rejects: unparsable code and an unavailable Python
 * helper both come back as null metrics with the reason in `analysisError`. Only results that
 * describe the code are cached, so a helper outage does not stick to a source.
 */
export class CodeAnalyzer {
  private readonly cache: LruCache<string, Promise<CodeAnalysis>>;
  private readonly python: PythonAnalyzer;
  private readonly fingerprints: LruCache<string, Promise<FingerprintResult>>;
  /** Two threads, so that one tenant's long JS parses do not hold up another's fingerprints. */
  private readonly parser: AnalysisWorker;
  private readonly fingerprinter: AnalysisWorker;
  private readonly maxSourceBytes: number;
  /** After close(), a failed fingerprint is not retried (a retry would start a new thread). */
  private closed = false;

  constructor(options: CodeAnalyzerOptions = {}) {
    this.cache = new LruCache(options.cacheSize ?? 2000);
    this.fingerprints = new LruCache(options.cacheSize ?? 2000);
    this.python = new PythonAnalyzer(options);
    const workerOptions = {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.workerUrl !== undefined ? { workerUrl: options.workerUrl } : {}),
    };
    this.parser = new AnalysisWorker(workerOptions);
    this.fingerprinter = new AnalysisWorker(workerOptions);
    this.maxSourceBytes = options.maxSourceBytes ?? 2 * 1024 * 1024;
  }

  analyze(runtime: AnalysisRuntime, source: string): Promise<CodeAnalysis> {
    const key = createHash("sha256").update(runtime).update("\0").update(source).digest("hex");
    const hit = this.cache.get(key);
    if (hit) return hit.then(copyAnalysis);
    // The promise is cached, so concurrent submissions of the same code share one analysis.
    const pending = this.compute(runtime, source).catch((err: unknown) => {
      this.cache.delete(key);
      if (err instanceof AnalyzerUnavailableError) return failedAnalysis(err.message);
      return failedAnalysis(`analysis failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.cache.set(key, pending);
    return pending.then(copyAnalysis);
  }

  /**
   * The task classifier's fingerprint of `source`, cached: small sources in-process, larger ones in a
   * worker thread of their own (tokenising and hashing take 0.1–1.4 s per Mi characters). Never
   * rejects. Code over 2 Mi characters is typed by its exact source without being read (as it is not
   * analysed). When the worker fails, the request is retried once on a fresh one; when that fails too,
   * or it timed out, the code is typed by its exact source and `unavailable` says why (cached after a
   * timeout, which the same code would hit again; not after a crash). Never computed in-process above
   * the small size: adversarial code can take over a second per Mi characters.
   */
  fingerprint(runtime: string, source: string, options: FingerprintOptions): Promise<FingerprintResult> {
    const key = createHash("sha256")
      .update(JSON.stringify([runtime, options.shingleSize, options.minShingles, options.numHashes]))
      .update("\0")
      .update(source)
      .digest("hex");
    const hit = this.fingerprints.get(key);
    if (hit) return hit.then(copyFingerprint);
    const exact = (): FingerprintResult => ({ tokenHash: key.slice(0, 32), signature: null });
    const ask = () => this.fingerprinter.fingerprint(runtime, source, options);
    const timedOut = (err: unknown) => err instanceof AnalyzerUnavailableError && err.timedOut;
    // Why this caller's fingerprint is of the exact source; later cache hits do not repeat it.
    let unavailable: string | undefined;
    const pending =
      source.length > MAX_FINGERPRINT
        ? Promise.resolve(exact())
        : source.length <= IN_PROCESS_FINGERPRINT
          ? Promise.resolve(codeFingerprint(runtime, source, options))
          : ask()
              .catch((err: unknown) => (timedOut(err) || this.closed ? Promise.reject(err) : ask()))
              .catch((err: unknown): FingerprintResult => {
                if (!timedOut(err)) this.fingerprints.delete(key);
                unavailable = err instanceof Error ? err.message : String(err);
                return exact();
              });
    this.fingerprints.set(key, pending);
    return pending.then((f) =>
      unavailable === undefined ? copyFingerprint(f) : { ...copyFingerprint(f), unavailable },
    );
  }

  /** Starts the analysis threads (the parser loads the TypeScript compiler) and the Python helper ahead of the first task. */
  async warmUp(): Promise<void> {
    await Promise.all([
      this.analyze("node", ""),
      this.analyze("python3", ""),
      this.fingerprint("node", " ".repeat(IN_PROCESS_FINGERPRINT + 1), FINGERPRINT_WARM_UP),
    ]);
  }

  /** Stops the Python helper and the analysis worker (if they were started). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.python.close(), this.parser.close(), this.fingerprinter.close()]);
  }

  private async compute(runtime: AnalysisRuntime, source: string): Promise<CodeAnalysis> {
    if (Buffer.byteLength(source) > this.maxSourceBytes) {
      return failedAnalysis(`source larger than ${this.maxSourceBytes} bytes; not analysed`);
    }
    // Off the event loop: parsing is synchronous and takes seconds for a large source.
    const a = await (runtime === "python3" ? this.python.analyze(source) : this.parser.analyze(source));
    // Bounded: cached analyses of code with thousands of imports held ~1 MiB each.
    return a.imports.length > MAX_IMPORTS ? { ...a, imports: a.imports.slice(0, MAX_IMPORTS) } : a;
  }
}

/** Callers get their own copy: a mutated result must not poison the cache. */
function copyAnalysis(a: CodeAnalysis): CodeAnalysis {
  return { ...a, imports: [...a.imports] };
}

function copyFingerprint(f: FingerprintResult): FingerprintResult {
  return { ...f, signature: f.signature ? [...f.signature] : null };
}

let shared: CodeAnalyzer | null = null;

/** Analyses with a process-wide analyzer (created on first use). */
export function analyzeCode(runtime: AnalysisRuntime, source: string): Promise<CodeAnalysis> {
  shared ??= new CodeAnalyzer();
  return shared.analyze(runtime, source);
}

/** Stops the process-wide analyzer's helper; the next analyzeCode starts a new one. */
export async function closeSharedAnalyzer(): Promise<void> {
  const a = shared;
  shared = null;
  await a?.close();
}

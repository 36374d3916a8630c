import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type CodeAnalysis, failedAnalysis } from "./code-analysis.js";

/** dist/src/analysis/x.js → project root is three levels up. */
export const DEFAULT_PYTHON_HELPER = path.join(
  fileURLToPath(new URL("../../../runners/", import.meta.url)),
  "python-analyze.py",
);

export interface PythonAnalyzerOptions {
  pythonCommand?: string;
  helperPath?: string;
  /** A request that takes longer kills the helper (it may be stuck on pathological input). */
  timeoutMs?: number;
}

/** Thrown for helper failures that say nothing about the code (not cached by the caller). */
export class AnalyzerUnavailableError extends Error {
  /** `timedOut`: the helper was working on this request when its time ran out (not a crash). */
  constructor(
    message: string,
    readonly timedOut = false,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (a: CodeAnalysis) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface HelperReply {
  id?: number | null;
  result?: CodeAnalysis;
  error?: string;
}

/**
 * One long-lived `python3 python-analyze.py --serve` process with a JSON line protocol, started on
 * first use. Why not a process per call: interpreter start-up plus `import ast, tokenize` costs
 * ~30 ms, more than the analysis of a typical task; the helper is idle-unref'd so it never keeps
 * the server alive, and it is restarted lazily after a crash or timeout.
 */
export class PythonAnalyzer {
  private child: ChildProcessWithoutNullStreams | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly command: string;
  private readonly helperPath: string;
  private readonly timeoutMs: number;

  constructor(options: PythonAnalyzerOptions = {}) {
    this.command = options.pythonCommand ?? "python3";
    this.helperPath = options.helperPath ?? DEFAULT_PYTHON_HELPER;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  analyze(source: string): Promise<CodeAnalysis> {
    return new Promise((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = this.ensureStarted();
      } catch (err) {
        reject(new AnalyzerUnavailableError(`python analyzer unavailable: ${(err as Error).message}`));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.failAll(new AnalyzerUnavailableError(`python analyzer timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.setRef(true);
      child.stdin.write(`${JSON.stringify({ id, source })}\n`);
    });
  }

  /** Stops the helper; pending requests fail. Safe to call repeatedly; a later analyze restarts it. */
  async close(): Promise<void> {
    const child = this.child;
    child?.ref(); // an idle helper is unref'd; waiting for its exit must keep the loop alive
    this.failAll(new AnalyzerUnavailableError("python analyzer closed"));
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
    }
  }

  private ensureStarted(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn(this.command, [this.helperPath, "--serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.stdin.on("error", () => {}); // EPIPE after a crash is reported through "exit"
    // Events of a helper already replaced must not touch the requests of its successor.
    child.on("error", (err) => {
      if (this.child !== child) return;
      this.failAll(new AnalyzerUnavailableError(`python analyzer unavailable: ${err.message}`));
    });
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      const why = stderr.trim().split("\n").pop() ?? "";
      this.failAll(new AnalyzerUnavailableError(`python analyzer exited (${signal ?? code}) ${why}`.trim()));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => this.onReply(line));
    this.setRef(false);
    return child;
  }

  private onReply(line: string): void {
    let reply: HelperReply;
    try {
      reply = JSON.parse(line) as HelperReply;
    } catch {
      return;
    }
    if (typeof reply.id !== "number") return;
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    clearTimeout(waiting.timer);
    if (reply.result) waiting.resolve(reply.result);
    else waiting.resolve(failedAnalysis(`python analyzer error: ${reply.error ?? "no result"}`));
    if (this.pending.size === 0) this.setRef(false);
  }

  private failAll(err: Error): void {
    const child = this.child;
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      this.pending.delete(id);
      waiting.reject(err);
    }
    // A timed-out or closing helper may be stuck mid-request; the next call starts a fresh one.
    if (child) {
      this.child = null;
      child.kill("SIGKILL");
    }
  }

  /** An idle helper must not keep the event loop (and so the process) alive. */
  private setRef(active: boolean): void {
    const child = this.child;
    if (!child) return;
    const handles = [child, child.stdin, child.stdout, child.stderr] as Array<{
      ref?: () => void;
      unref?: () => void;
    }>;
    for (const h of handles) (active ? h.ref : h.unref)?.call(h);
  }
}

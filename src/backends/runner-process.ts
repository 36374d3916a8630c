/**
 * One runner child process and its line-delimited JSON protocol: requests on the child's stdin,
 * responses on fd 3, the task's own stdout/stderr kept in a bounded tail for error messages.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";

/** Kinds of failure a runner reports for a request it could answer. */
export type RunnerFailureKind = "error" | "oom" | "import" | "nofn";

export interface RunnerResponse {
  id: number;
  ok: boolean;
  kind?: RunnerFailureKind;
  error?: string;
  /** The dependency that failed to import. */
  module?: string;
  wallMs?: number;
  cpuMs?: number;
  /** Import time of an import request. */
  ms?: number;
  outputBytes?: number;
  output?: unknown;
}

export interface RunnerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError?: string;
  /** Set when forewarm killed the runner for breaking the protocol. */
  killedFor?: string;
}

/** Rejection of a request whose runner exited before answering. */
export class RunnerExitedError extends Error {
  constructor(readonly exit: RunnerExit) {
    super(`runner exited (${describeExit(exit)})`);
  }
}

export function describeExit(exit: RunnerExit): string {
  if (exit.spawnError) return `could not start: ${exit.spawnError}`;
  if (exit.killedFor) return `killed: ${exit.killedFor}`;
  if (exit.signal) return `killed by signal ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

/** Keeps the last `capacity` bytes written to it. */
export class TailBuffer {
  private buf = Buffer.alloc(0);
  constructor(private readonly capacity: number) {}
  push(chunk: Buffer): void {
    const joined = Buffer.concat([this.buf, chunk]);
    this.buf = joined.length > this.capacity ? joined.subarray(joined.length - this.capacity) : joined;
  }
  text(): string {
    return this.buf.toString("utf8");
  }
}

interface Pending {
  resolve: (r: RunnerResponse) => void;
  reject: (e: Error) => void;
}

/**
 * Longest protocol line (characters) a runner may send. Task code runs in the runner and can write to
 * fd 3 itself: without a cap, a line without a newline grows the server's memory until joining it
 * throws and takes the server, and every tenant's work, down.
 */
export const MAX_PROTOCOL_LINE = 64 * 1024 * 1024;

/** How long to keep reading fd 3 after exit, for a response written just before dying. */
const DRAIN_AFTER_EXIT_MS = 100;

export class RunnerProcess {
  readonly tail = new TailBuffer(8 * 1024);
  /** Resolves with the runner's pid once it reports ready; rejects if it exits first. */
  readonly ready: Promise<number>;
  /** Resolves once the process has exited and its last responses were read. Never rejects. */
  readonly exited: Promise<RunnerExit>;
  private exitInfo: RunnerExit | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private parts: string[] = [];
  private partsLength = 0;
  /** Why forewarm killed the runner (reported as its exit), once it has. */
  private killedFor: string | undefined;
  private markReady: (pid: number) => void = () => {};

  private constructor(readonly child: ChildProcess) {
    const stdin = child.stdin as Writable;
    // EPIPE when the runner died mid-write is seen through `exited`; do not crash the server.
    stdin.on("error", () => {});
    for (const s of [child.stdout, child.stderr]) s?.on("data", (d: Buffer) => this.tail.push(d));
    const proto = child.stdio[3] as Readable;
    proto.setEncoding("utf8");
    proto.on("data", (d: string) => this.onData(d));
    proto.on("error", () => {});

    let failReady: (e: Error) => void = () => {};
    this.ready = new Promise<number>((resolve, reject) => {
      this.markReady = resolve;
      failReady = reject;
    });
    // Callers that never await ready (exit during create is reported through create itself).
    this.ready.catch(() => {});

    this.exited = new Promise<RunnerExit>((resolve) => {
      const finish = (exit: RunnerExit) => {
        if (this.exitInfo) return;
        this.exitInfo = exit;
        for (const p of this.pending.values()) p.reject(new RunnerExitedError(exit));
        this.pending.clear();
        failReady(new RunnerExitedError(exit));
        resolve(exit);
      };
      child.on("error", (e) => finish({ code: null, signal: null, spawnError: e.message }));
      child.on("exit", (code, signal) => {
        // Whatever the task started lives on in the runner's process group: it ends with the runner.
        this.killGroup("SIGKILL");
        const exit: RunnerExit = this.killedFor
          ? { code, signal, killedFor: this.killedFor }
          : { code, signal };
        if (proto.readableEnded || proto.destroyed) return finish(exit);
        const timer = setTimeout(() => finish(exit), DRAIN_AFTER_EXIT_MS);
        proto.once("close", () => {
          clearTimeout(timer);
          finish(exit);
        });
      });
    });
  }

  static spawn(
    command: string,
    args: string[],
    options: { cwd: string; env: NodeJS.ProcessEnv },
  ): RunnerProcess {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe", "pipe"],
      // Its own process group: processes a task starts (and does not wait for) are killed with the
      // runner when its environment is destroyed, instead of outliving it (and the server).
      detached: true,
    });
    return new RunnerProcess(child);
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /**
   * Sends one request. `rawInputJson`, when given, is spliced in verbatim as the `input` field so
   * the caller can count its bytes without serialising twice.
   */
  request(body: Record<string, unknown>, rawInputJson?: string): Promise<RunnerResponse> {
    if (this.exitInfo) return Promise.reject(new RunnerExitedError(this.exitInfo));
    const id = this.nextId++;
    let line = JSON.stringify({ id, ...body });
    if (rawInputJson !== undefined) line = `${line.slice(0, -1)},"input":${rawInputJson}}`;
    return new Promise<RunnerResponse>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.child.stdin as Writable).write(`${line}\n`);
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exitInfo) return;
    this.killGroup(signal);
  }

  /** Signals the runner's process group (the runner and what its tasks started), else the runner. */
  private killGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    try {
      if (pid !== undefined) process.kill(-pid, signal);
      else this.child.kill(signal);
    } catch {
      // Already gone (ESRCH): the group had no process left.
      try {
        this.child.kill(signal);
      } catch {
        // Already gone.
      }
    }
  }

  private onData(chunk: string): void {
    if (this.killedFor) return;
    // Only the new chunk is scanned, so a multi-megabyte output line costs linear time.
    let start = 0;
    let nl = chunk.indexOf("\n");
    while (nl >= 0) {
      if (this.partsLength + nl - start > MAX_PROTOCOL_LINE) {
        this.killForLongLine();
        return;
      }
      this.parts.push(chunk.slice(start, nl));
      const line = this.parts.join("");
      this.parts = [];
      this.partsLength = 0;
      if (line.length > 0) this.onMessage(line);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    if (start < chunk.length) {
      this.partsLength += chunk.length - start;
      if (this.partsLength > MAX_PROTOCOL_LINE) {
        this.killForLongLine();
        return;
      }
      this.parts.push(chunk.slice(start));
    }
  }

  /** The runner's requests fail as its exit (the task as crashed) and the pool replaces it. */
  private killForLongLine(): void {
    this.parts = [];
    this.partsLength = 0;
    this.killedFor = `sent a protocol line over ${MAX_PROTOCOL_LINE / (1024 * 1024)} MiB (task output too large, or the task wrote to fd 3)`;
    this.tail.push(Buffer.from(`[forewarm] ${this.killedFor}\n`));
    this.kill("SIGKILL");
  }

  private onMessage(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.tail.push(Buffer.from(`[forewarm] unparseable protocol line: ${line.slice(0, 200)}\n`));
      return;
    }
    if (typeof msg !== "object" || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (m.type === "ready" && typeof m.pid === "number") {
      this.markReady(m.pid);
      return;
    }
    if (typeof m.id !== "number") {
      this.tail.push(Buffer.from(`[forewarm] runner message: ${line.slice(0, 500)}\n`));
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.resolve(m as unknown as RunnerResponse);
  }
}

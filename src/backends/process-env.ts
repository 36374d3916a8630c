/** Types and pure helpers of the process backend: its options, per-environment state, failures. */
import type { Logger } from "../log/logger.js";
import type { BackendEnvironment, RunFailure, RunResult } from "./backend.js";
import type { EnvCgroup } from "./cgroup.js";
import { describeExit, type RunnerExit, type RunnerProcess } from "./runner-process.js";
import type { TenantUidRange } from "./tenant-uids.js";

export interface ProcessBackendOptions {
  logger: Logger;
  /** Parent of the per-environment scratch directories (default: <tmpdir>/forewarm-envs). */
  workDir?: string;
  /** cgroup v1 hard limits: true requires them, false never uses them, 'auto' uses them if writable. */
  useCgroups?: boolean | "auto";
  /** Extra environment variables for every runner (e.g. PYTHONPATH, NODE_PATH). */
  extraEnv?: Record<string, string>;
  /** Node binary for `node` environments (default: the one running the server). */
  nodeBinary?: string;
  /** Python binary for `python3` environments (default: python3 on PATH). */
  pythonBinary?: string;
  /** Directory holding node-runner.mjs and python-runner.py. */
  runnersDir?: string;
  /** Time allowed from spawn until the runner reports ready (default 30 s). */
  startTimeoutMs?: number;
  /** Time allowed for warm() (default 120 s). */
  warmTimeoutMs?: number;
  /** RSS sampling interval (default 20 ms). */
  sampleIntervalMs?: number;
  /** Time between SIGTERM and SIGKILL on destroy (default 1 s). */
  killGraceMs?: number;
  /** Run each tenant's runners as a uid of its own from this range (tenant-uids.ts); absent = as the server. */
  tenantUids?: TenantUidRange;
}

export type EnvState = "starting" | "idle" | "busy" | "dead";

/** Why an environment's process ended, as the backend classified it. */
export interface ExitOutcome {
  failure: RunFailure | "destroyed";
  error: string;
}

export interface Env {
  info: BackendEnvironment;
  runner: RunnerProcess;
  cgroup: EnvCgroup | null;
  scratchDir: string;
  /** The tenant uid its runner runs as (tenant-uids.ts); absent: the server's. */
  uid?: number;
  startMs: number;
  state: EnvState;
  /** Set when the backend itself decided to end the process, so its exit is classified right. */
  killReason: ExitOutcome | null;
  /** Settles after the exit was classified, cleaned up and announced. */
  outcome: Promise<ExitOutcome>;
  destroying: Promise<void> | null;
  /** cgroup peak read just before the cgroup is removed, for runs that ended with the process. */
  finalPeakMb: number | null;
}

const HEAP_OOM = /heap out of memory|Reached heap limit|allocation failed - JavaScript heap/i;

export function firstLine(text: string | undefined): string {
  return (text ?? "").split("\n").find((l) => l.trim()) ?? "";
}

export function safeSegment(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 80) || "env";
}

export function oomText(memoryMb: number, detail?: string): string {
  const base = `memory limit exceeded (${memoryMb} MiB)`;
  return detail ? `${base}: ${firstLine(detail)}` : base;
}

export function failedResult(
  failure: RunFailure,
  error: string,
  wallMs: number,
  cpuMs: number,
  inputBytes: number,
): RunResult {
  return {
    ok: false,
    failure,
    error,
    wallMs,
    cpuMs,
    peakMemoryMb: 0,
    inputBytes,
    outputBytes: 0,
    storageBytesWritten: 0,
  };
}

/** Why a process the backend did not kill itself ended: the kernel OOM killer, V8's heap, or else a crash. */
export async function classifyExit(env: Env, exit: RunnerExit): Promise<ExitOutcome> {
  const memoryMb = env.info.spec.resources.memoryMb;
  const tail = env.runner.tail.text();
  if (env.cgroup && exit.signal === "SIGKILL") {
    const kills = await env.cgroup.oomKills();
    // Kernels without the oom_kill counter: a SIGKILL after hitting the limit is the OOM killer's.
    const hit = kills !== null ? kills > 0 : ((await env.cgroup.failcnt()) ?? 0) > 0;
    if (hit) return { failure: "oom", error: `${oomText(memoryMb)}: killed by the kernel OOM killer` };
  }
  if (HEAP_OOM.test(tail))
    return { failure: "oom", error: `${oomText(memoryMb)}: JavaScript heap exhausted` };
  const lastOutput = tail.trim().slice(-1000);
  const error = `process ${describeExit(exit)}${lastOutput ? `; last output:\n${lastOutput}` : ""}`;
  return { failure: "crashed", error };
}

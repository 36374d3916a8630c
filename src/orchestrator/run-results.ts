import type { RunResult } from "../backends/backend.js";
import type { Task } from "../core/types.js";
import type { TaskUpdate } from "../history/store.js";

/** The result of a task the orchestrator could not run: recording its start or the backend call threw. */
export function unrunnableResult(task: Task, err: unknown): RunResult {
  return {
    ok: false,
    failure: "error",
    error: `could not run: ${err instanceof Error ? err.message : String(err)}`,
    wallMs: 0,
    cpuMs: 0,
    peakMemoryMb: 0,
    inputBytes: task.inputBytes,
    outputBytes: 0,
    storageBytesWritten: 0,
  };
}

/** The history update of a task starting in environment `envId` (`cold`: just created for it). */
export function startedUpdate(
  task: Task,
  routedAt: number,
  startedAt: number,
  cold: boolean,
  envId: string,
): TaskUpdate {
  return {
    status: "running",
    startedAt,
    queueWaitMs: routedAt - task.submittedAt,
    startLatencyMs: startedAt - routedAt,
    cold,
    environmentId: envId,
  };
}

/** The final history update of a task whose environment `envId`, created for it, failed to start. */
export function startFailedUpdate(
  task: Task,
  routedAt: number,
  finishedAt: number,
  envId: string,
  failure: string,
): TaskUpdate {
  return {
    status: "failed",
    finishedAt,
    queueWaitMs: routedAt - task.submittedAt,
    cold: true,
    environmentId: envId,
    exitStatus: "environment_failed",
    error: `environment failed to start: ${failure}`,
  };
}

/** A run's final history update; an output over `maxStoredOutputBytes` is stored as its size only. */
export function finishedUpdate(
  result: RunResult,
  finishedAt: number,
  maxStoredOutputBytes: number,
): TaskUpdate {
  return {
    status: result.ok ? "succeeded" : "failed",
    finishedAt,
    cpuSeconds: result.cpuMs / 1000,
    peakMemoryMb: result.peakMemoryMb,
    networkInBytes: result.inputBytes,
    networkOutBytes: result.outputBytes,
    storageBytesWritten: result.storageBytesWritten,
    outputBytes: result.outputBytes,
    exitStatus: result.ok ? "ok" : (result.failure ?? "error"),
    error: result.ok ? null : (result.error ?? "failed"),
    output: result.ok ? storedOutput(result, maxStoredOutputBytes) : undefined,
  };
}

function storedOutput(result: RunResult, maxStoredOutputBytes: number): unknown {
  if (result.outputBytes <= maxStoredOutputBytes) return result.output ?? null;
  return { truncated: true, outputBytes: result.outputBytes };
}

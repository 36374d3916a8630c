import type { Task, TaskRecord } from "../core/types.js";

/** The history record of a task at the moment it is accepted. */
export function emptyRecord(task: Task): TaskRecord {
  return {
    id: task.id,
    user: task.user,
    taskType: task.taskType,
    runtime: task.runtime,
    entry: task.entry ?? null,
    fn: task.fn,
    dependencies: task.dependencies,
    inputBytes: task.inputBytes,
    priority: task.priority,
    status: "queued",
    submittedAt: task.submittedAt,
    startedAt: null,
    finishedAt: null,
    queueWaitMs: null,
    startLatencyMs: null,
    cold: null,
    environmentId: null,
    cpuSeconds: null,
    peakMemoryMb: null,
    networkInBytes: null,
    networkOutBytes: null,
    storageBytesWritten: null,
    outputBytes: null,
    exitStatus: null,
    error: null,
    linesOfCode: null,
    cyclomatic: null,
    functionCount: null,
    halsteadVolume: null,
    analysisError: null,
    imports: null,
    insight: null,
  };
}

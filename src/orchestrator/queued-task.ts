import type { EnvironmentSpec, ResourceVector, Task, TaskRecord } from "../core/types.js";
import type { TaskUpdate } from "../history/store.js";
import { emptyRecord } from "./records.js";
import { specForTask } from "./task-factory.js";
import type { TaskInsight } from "./task-insight.js";

export interface QueuedTask {
  id: string;
  priority: number;
  task: Task;
  spec: EnvironmentSpec;
  /** Expected run time in ms (task insight's estimate; 0 without it): the series' concurrency reads it. */
  expectedRunMs: number;
  /** False until the history holds the task: only recorded tasks may start. */
  admitted: boolean;
  /** Times it was put back because its environment was found gone when it was to start. */
  requeues: number;
  /** Its current start counted as a shadow hit (undone if the start is: requeue). */
  shadowHit?: boolean;
}

/** Times a task goes back to the queue (its worker found dead when it was to start) before it fails. */
export const MAX_REQUEUES = 2;

/** The history update of a task queued again before it ran: the start it was given is undone. */
export function requeuedUpdate(): TaskUpdate {
  return {
    status: "queued",
    startedAt: null,
    queueWaitMs: null,
    startLatencyMs: null,
    cold: null,
    environmentId: null,
  };
}

/**
 * What an accepted task is recorded and queued as: its first history record, owned by `owner`, and
 * its queue entry, not admitted yet. Nothing is recorded or queued here.
 */
export async function prepareQueuedTask(
  task: Task,
  defaults: ResourceVector,
  insight: TaskInsight | undefined,
  owner: string | null,
  capacity: { cpu: number; memoryMb: number },
): Promise<{ record: TaskRecord; entry: QueuedTask }> {
  const record = emptyRecord(task);
  record.owner = owner;
  let spec = specForTask(task, defaults);
  let expectedRunMs = 0;
  if (insight) {
    // May assign the task type, and raise the size the router looks for to the estimate.
    const u = await insight.understand(task, defaults);
    // An estimate above the whole pool (runs that needed more, of this or similar code) would queue
    // the task forever: it asks for what the pool can hold at most, and the run shows if that is enough.
    spec = {
      ...spec,
      resources: {
        ...u.need,
        cpu: Math.min(u.need.cpu, capacity.cpu),
        memoryMb: Math.min(u.need.memoryMb, capacity.memoryMb),
      },
    };
    expectedRunMs = u.expectedRunMs;
    const { imports, ...complexity } = u.analysis;
    Object.assign(record, complexity, { taskType: task.taskType, imports, insight: u.insight });
  }
  const entry: QueuedTask = {
    id: task.id,
    priority: task.priority,
    task,
    spec,
    expectedRunMs,
    admitted: false,
    requeues: 0,
  };
  return { record, entry };
}

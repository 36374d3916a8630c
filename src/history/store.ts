import type { TaskRecord } from "../core/types.js";

/** One (user, task type) series in one minute: what forecasting reads. */
export interface MinuteRollup {
  user: string;
  taskType: string;
  /** Minutes since the epoch. */
  minute: number;
  arrivals: number;
  peakConcurrency: number;
  cpuSeconds: number;
  peakMemoryMb: number;
  memoryMbSum: number;
  completed: number;
  networkInBytes: number;
  networkOutBytes: number;
  storageBytesWritten: number;
  /**
   * The minute's earliest arrival (ms since the epoch): the order series first arrived in within a
   * minute, which the forewarm windows relearn. Null for minutes recorded before it was kept.
   */
  firstArrivalMs: number | null;
  /**
   * Memory (MB) of the environment the minute's last arrival was routed for: what the forewarm windows
   * price a series' idle minute by, relearned after a restart. Null where unknown.
   */
  memoryMb: number | null;
}

export interface SeriesSummary {
  user: string;
  taskType: string;
  firstMinute: number;
  lastMinute: number;
  arrivals: number;
}

export interface TaskQuery {
  user?: string;
  taskType?: string;
  status?: TaskRecord["status"];
  limit?: number;
}

export interface RollupQuery {
  user?: string;
  taskType?: string;
  fromMinute?: number;
  toMinute?: number;
}

/** Fields a task record gains as it moves through its life. */
export type TaskUpdate = Partial<Omit<TaskRecord, "id" | "user" | "taskType" | "submittedAt">>;

/**
 * The time-series history of every task. Async so that networked stores (PostgreSQL) fit the same
 * seam as the embedded SQLite one.
 */
export interface HistoryStore {
  /** Records an accepted task and counts its arrival in its minute. */
  insertTask(record: TaskRecord): Promise<void>;
  /**
   * Applies a state change; a final state also adds the task's usage to its finish minute. A task that
   * has ended is never changed again: TaskEndedError (another server may have failed it as gone).
   */
  updateTask(id: string, update: TaskUpdate): Promise<void>;
  getTask(id: string): Promise<TaskRecord | null>;
  listTasks(query?: TaskQuery): Promise<TaskRecord[]>;
  /** Raises the series' peak concurrency for a minute to at least `concurrency`. */
  recordConcurrency(user: string, taskType: string, minute: number, concurrency: number): Promise<void>;
  rollups(query?: RollupQuery): Promise<MinuteRollup[]>;
  series(): Promise<SeriesSummary[]>;
  /**
   * Fails every task left queued or running — only those of `owner` when given (several servers share
   * one history: a server fails its own leftovers at start, the leader those of dead servers).
   * Returns how many.
   */
  failUnfinished(now: number, reason: string, owner?: string): Promise<number>;
  /** Owners that have queued or running tasks. */
  unfinishedOwners(): Promise<string[]>;
  /**
   * Retention: drops finished tasks submitted before `beforeMs` (PostgreSQL: whole months) and rollup
   * minutes before it.
   */
  prune(beforeMs: number): Promise<PruneSummary>;
  close(): Promise<void>;
}

export interface PruneSummary {
  deletedTaskRows: number;
  deletedRollupRows: number;
}

export const minuteOf = (ms: number): number => Math.floor(ms / 60_000);

/** Final task states (SQL list): a task in one is never updated again. */
export const FINAL_STATES_SQL = "('succeeded', 'failed')";

/** An update to a task that already reached its final state: exactly one final state wins. */
export class TaskEndedError extends Error {
  constructor(
    readonly taskId: string,
    readonly status: string,
  ) {
    super(`task ${taskId} already ended (${status}): update not applied`);
  }
}

/** An inserted task's arrival in the rollups, as both stores write it: user, type, minute, first arrival, routed MB. */
export function arrivalRollup(r: TaskRecord): [string, string, number, number, number | null] {
  return [r.user, r.taskType, minuteOf(r.submittedAt), r.submittedAt, r.insight?.routedMemoryMb ?? null];
}

/** A finished task's usage in the rollup of the minute it finished in, as both stores write it. */
export function usageRollup(r: TaskRecord): {
  user: string;
  type: string;
  minute: number;
  cpu: number;
  mem: number;
  nin: number;
  nout: number;
  sto: number;
} {
  return {
    user: r.user,
    type: r.taskType,
    minute: minuteOf(r.finishedAt ?? r.submittedAt),
    cpu: r.cpuSeconds ?? 0,
    mem: r.peakMemoryMb ?? 0,
    nin: r.networkInBytes ?? 0,
    nout: r.networkOutBytes ?? 0,
    sto: r.storageBytesWritten ?? 0,
  };
}

/**
 * Rollup rows sorted by series (user, task type), then minute, cut into one run per series — how the
 * forecast models and `forecast --history` read a window of the store.
 */
export function* seriesRuns(rows: readonly MinuteRollup[]): Generator<readonly MinuteRollup[]> {
  let i = 0;
  while (i < rows.length) {
    const first = rows[i]!;
    let j = i;
    while (j < rows.length && rows[j]!.user === first.user && rows[j]!.taskType === first.taskType) j++;
    yield rows.slice(i, j);
    i = j;
  }
}

/**
 * The span of minutes to read next from rollups, given the span just read and its rows: about `target`
 * rows a read (1 minute to a day), so that a large history is read in pieces, with other work between.
 */
export function nextRollupSpan(span: number, rowsRead: number, target: number): number {
  return Math.max(1, Math.min(1440, Math.floor((span * target) / Math.max(1, rowsRead))));
}

import type { Clock } from "../core/clock.js";
import type { Task, TaskRecord } from "../core/types.js";
import { type HistoryStore, TaskEndedError, type TaskUpdate } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import type { SeriesActivityLog } from "./series-activity.js";
import type { TaskInsight } from "./task-insight.js";

export interface TaskCounters {
  coldStarts: number;
  warmStarts: number;
  shadowHits: number;
  succeeded: number;
  failed: number;
}

/** Observer hooks for metrics; all optional. */
export interface TaskObserver {
  started?(cold: boolean, startLatencyMs: number): void;
  /** A start (already reported to `started`) found its worker dead; the task was queued again. */
  requeued?(cold: boolean): void;
  finished?(status: "succeeded" | "failed"): void;
}

const FINAL_WRITE_FIRST_DELAY_MS = 100;
const FINAL_WRITE_MAX_DELAY_MS = 5_000;

/** The store's "no task <id>": the record is gone (pruned, another store), so retrying cannot help. */
const isMissingTask = (err: unknown, id: string): boolean =>
  err instanceof Error && err.message === `no task ${id}`;

export interface TaskCompletionDeps {
  store: HistoryStore;
  clock: Clock;
  logger: Logger;
  insight?: TaskInsight;
  activity: SeriesActivityLog;
  /** The orchestrator's counters: succeeded and failed are counted here. */
  counters: TaskCounters;
  /** Read at each finish: metrics wiring replaces the orchestrator's observer after construction. */
  observer: () => TaskObserver;
}

/**
 * How an accepted task ends: its final state is recorded, counted and handed to whoever waits for it.
 * `finalize` is the only way out and is guarded, so every task reaches exactly one final state.
 */
export class TaskCompletion {
  /**
   * Tasks already finalised. Every path that ends a task holds the one Task object the orchestrator
   * accepted, so a WeakSet guards as well as a set of ids did, and forgets a task once nothing else
   * holds it (a set of ids grew by one per task for the life of the server).
   */
  private readonly finalized = new WeakSet<Task>();
  private readonly waiters = new Map<string, ((r: TaskRecord) => void)[]>();
  private stopped = false;
  private readonly wakeUps = new Set<() => void>();

  constructor(private readonly d: TaskCompletionDeps) {}

  /** Resolves with the task's final record, or its current one after `timeoutMs`. */
  async waitFor(id: string, timeoutMs: number): Promise<TaskRecord | null> {
    // Registered before the record is read: a task that ends between the read and the registration
    // would otherwise leave the request waiting for its whole timeout.
    let done!: (r: TaskRecord | null) => void;
    const ended = new Promise<TaskRecord | null>((resolve) => {
      done = resolve;
    });
    const forget = () => {
      const left = (this.waiters.get(id) ?? []).filter((w) => w !== done);
      if (left.length > 0) this.waiters.set(id, left);
      else this.waiters.delete(id);
    };
    this.waiters.set(id, [...(this.waiters.get(id) ?? []), done]);
    const current = await this.d.store.getTask(id).catch((err: unknown) => {
      forget();
      throw err;
    });
    if (current === null || current.status === "succeeded" || current.status === "failed") {
      forget();
      return current;
    }
    const timer = setTimeout(() => {
      forget();
      this.d.store.getTask(id).then(done, () => done(null));
    }, timeoutMs);
    const record = await ended;
    clearTimeout(timer);
    return record;
  }

  async finalize(task: Task, update: TaskUpdate): Promise<void> {
    if (this.finalized.has(task)) return;
    this.finalized.add(task);
    this.d.activity.finished(task.id, update.finishedAt ?? this.d.clock.now());
    if (update.status === "succeeded") this.d.counters.succeeded++;
    else {
      this.d.counters.failed++;
      this.d.logger.warn(
        {
          event: "task_failed",
          task: task.id,
          user: task.user,
          type: task.taskType,
          reason: update.exitStatus,
          error: update.error,
        },
        "task failed",
      );
    }
    this.d.observer().finished?.(update.status === "succeeded" ? "succeeded" : "failed");
    await this.record(task, update);
    const record = await this.d.store.getTask(task.id).catch(() => null);
    if (record) this.d.insight?.observe(record);
    const list = this.waiters.get(task.id) ?? [];
    this.waiters.delete(task.id);
    if (record) for (const w of list) w(record);
  }

  /**
   * Writes the final update, retrying (backing off to FINAL_WRITE_MAX_DELAY_MS) while the store fails:
   * left unwritten, the task would stay "running" in the history for as long as this server lives (it
   * is alive, so no leader fails it as gone). Gives up once `stop()` was called: the next start's
   * cleanup fails what this server left unfinished.
   */
  private async record(task: Task, update: TaskUpdate): Promise<void> {
    for (let attempt = 1, delay = FINAL_WRITE_FIRST_DELAY_MS; ; attempt++) {
      try {
        await this.d.store.updateTask(task.id, update);
        if (attempt > 1)
          this.d.logger.info(
            { event: "history_write_recovered", task: task.id, attempt },
            "task result recorded",
          );
        return;
      } catch (err) {
        // The record already holds a final state (e.g. the leader failed this server's tasks as gone
        // after losing its liveness lock): that state stands, and waiters get it.
        if (err instanceof TaskEndedError) {
          this.d.logger.warn(
            { event: "task_already_ended", task: task.id, recorded: err.status, ours: update.status },
            "task had already ended in the history: its first final state stands",
          );
          return;
        }
        const again = !this.stopped && !isMissingTask(err, task.id);
        // The first failure and then every doubling of the attempts, not every retry.
        if ((attempt & (attempt - 1)) === 0 || !again)
          this.d.logger.error(
            { event: "history_write_failed", task: task.id, attempt, retrying: again, err },
            again ? "could not record task result; retrying" : "could not record task result",
          );
        if (!again) return;
      }
      await this.backOff(delay);
      delay = Math.min(FINAL_WRITE_MAX_DELAY_MS, delay * 2);
    }
  }

  /** Waits `ms`, or until stop(): a retry asleep then tries once more at once, not after the store closed. */
  private backOff(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUps.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUps.add(done);
    });
  }

  /** Final writes that fail are no longer retried (shutdown); retries asleep wake for a last try. */
  stop(): void {
    this.stopped = true;
    for (const wake of [...this.wakeUps]) wake();
  }

  /** Fails a task the server is shutting down on; `when` completes "server shut down …". */
  shutDown(
    task: Task,
    when: "before the task started" | "while its environment was starting" | "while the task was running",
  ): Promise<void> {
    return this.finalize(task, {
      status: "failed",
      finishedAt: this.d.clock.now(),
      exitStatus: "shutdown",
      error: `server shut down ${when}`,
    });
  }
}

import type { EnvironmentBackend, RunResult } from "../backends/backend.js";
import type { Config } from "../config/config.js";
import type { Clock } from "../core/clock.js";
import type { EnvironmentSpec, Task, TaskRecord } from "../core/types.js";
import { specKey } from "../core/types.js";
import type { HistoryStore } from "../history/store.js";
import { minuteOf } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import type { EnvironmentState, EnvironmentView, PoolSnapshot } from "../pool/environment.js";
import { expiredEnvironments, routeTask } from "../route/router.js";
import { TaskQueue } from "../route/task-queue.js";
import { emptyRecord } from "./records.js";
import { modulePathFor, specForTask } from "./task-factory.js";

export class QueueFullError extends Error {}
export class ShuttingDownError extends Error {}

interface QueuedTask {
  id: string;
  priority: number;
  task: Task;
  spec: EnvironmentSpec;
  /** False until the history holds the task: only recorded tasks may start. */
  admitted: boolean;
}

interface Counters {
  coldStarts: number;
  warmStarts: number;
  succeeded: number;
  failed: number;
  reclaimed: number;
  replaced: number;
  wastedMbMs: number;
}

export interface OrchestratorDeps {
  config: Config;
  backend: EnvironmentBackend;
  store: HistoryStore;
  clock: Clock;
  logger: Logger;
  tasksDir: string;
  codeDir: string;
}

/**
 * The live task path: accept → queue → route → run on the backend → record. It owns the pool's
 * actual state; routing and reclaim decisions are the pure functions of src/route, given `now`.
 * Every accepted task reaches exactly one final state: `finalize` is the only way out and is guarded.
 */
export class Orchestrator {
  private readonly envs = new Map<string, EnvironmentView>();
  private readonly queue: TaskQueue<QueuedTask>;
  private readonly running = new Map<string, { task: Task; envId: string }>();
  private readonly finalized = new Set<string>();
  private readonly waiters = new Map<string, ((r: TaskRecord) => void)[]>();
  private readonly seriesRunning = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private pumpAgain = false;
  private closing = false;
  private envSeq = 0;
  private lastConcurrencyMinute = -1;
  readonly counters: Counters = {
    coldStarts: 0,
    warmStarts: 0,
    succeeded: 0,
    failed: 0,
    reclaimed: 0,
    replaced: 0,
    wastedMbMs: 0,
  };

  constructor(private readonly d: OrchestratorDeps) {
    this.queue = new TaskQueue(d.config.queue.maxLength);
    d.backend.onExit((envId, reason) => this.onEnvironmentExit(envId, reason));
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.d.config.reclaimIntervalMs);
    this.timer.unref();
  }

  get queueLength(): number {
    return this.queue.length;
  }

  snapshot(): PoolSnapshot {
    const now = this.d.clock.now();
    const c = this.d.config.capacity;
    return {
      now,
      environments: [...this.envs.values()].map((e) => ({ ...e })),
      capacity: { cpu: c.cpu, memoryMb: c.memoryMb, maxEnvironments: c.maxEnvironments },
    };
  }

  /** The pool as the API shows it: each environment with its worker's pid where the backend has one. */
  describeEnvironments(): (EnvironmentView & { pid: number | null; hardLimits: boolean })[] {
    const byId = new Map(this.d.backend.list().map((b) => [b.id, b]));
    return this.snapshot().environments.map((e) => ({
      ...e,
      pid: byId.get(e.id)?.pid ?? null,
      hardLimits: byId.get(e.id)?.hardLimits ?? false,
    }));
  }

  /** Accepts a built task: it is recorded, then queued. Throws QueueFullError (→ 429) without recording. */
  async submit(task: Task): Promise<void> {
    if (this.closing) throw new ShuttingDownError("server is shutting down");
    const spec = specForTask(task, this.d.config.defaults.resources);
    const entry: QueuedTask = { id: task.id, priority: task.priority, task, spec, admitted: false };
    if (!this.queue.offer(entry))
      throw new QueueFullError(`queue full (${this.queue.maxLength} tasks waiting)`);
    try {
      await this.d.store.insertTask(emptyRecord(task));
    } catch (err) {
      this.queue.remove(task.id);
      throw err;
    }
    entry.admitted = true;
    this.pump();
  }

  /** Resolves with the task's final record, or its current one after `timeoutMs`. */
  async waitFor(id: string, timeoutMs: number): Promise<TaskRecord | null> {
    const current = await this.d.store.getTask(id);
    if (current === null || current.status === "succeeded" || current.status === "failed") return current;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const list = this.waiters.get(id) ?? [];
        this.waiters.set(
          id,
          list.filter((w) => w !== done),
        );
        this.d.store.getTask(id).then(resolve, () => resolve(null));
      }, timeoutMs);
      const done = (r: TaskRecord) => {
        clearTimeout(t);
        resolve(r);
      };
      const list = this.waiters.get(id) ?? [];
      list.push(done);
      this.waiters.set(id, list);
    });
  }

  /** Serves waiting tasks in priority order; those that do not fit yet stay queued (others may backfill). */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (const q of this.queue.ordered()) {
          if (!q.admitted || this.closing) continue;
          const decision = routeTask({ user: q.task.user, spec: q.spec }, this.snapshot());
          if (decision.kind === "queue") continue;
          this.queue.remove(q.id);
          const routedAt = this.d.clock.now();
          if (decision.kind === "warm") {
            const env = this.envs.get(decision.environmentId)!;
            this.markBusy(env, routedAt);
            this.counters.warmStarts++;
            this.track(this.execute(q.task, env, false, routedAt));
          } else {
            for (const id of decision.evict) this.reclaim(id, "evicted to make room for a waiting task");
            const env = this.addEnvironment(q.task.user, q.spec, false);
            this.counters.coldStarts++;
            this.d.logger.info(
              {
                event: "cold_start",
                task: q.task.id,
                user: q.task.user,
                env: env.id,
                reason: decision.reason,
              },
              "cold start",
            );
            this.track(this.coldStart(q.task, env, routedAt));
          }
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    p.finally(() => this.pending.delete(p)).catch(() => {});
  }

  private addEnvironment(user: string, spec: EnvironmentSpec, shadow: boolean): EnvironmentView {
    const now = this.d.clock.now();
    const env: EnvironmentView = {
      id: `env-${process.pid}-${++this.envSeq}`,
      user,
      spec,
      specKey: specKey(spec),
      state: "creating",
      shadow,
      createdAt: now,
      readyAt: null,
      idleSince: null,
      tasksRun: 0,
      coldStartMs: null,
      idleMbMs: 0,
    };
    this.envs.set(env.id, env);
    return env;
  }

  /** Creates and warms an environment; returns why it failed (environment then gone), or null. */
  private async bringUp(env: EnvironmentView): Promise<string | null> {
    try {
      await this.d.backend.create(env.id, env.user, env.spec);
      if (env.state === "gone") return "environment reclaimed while starting";
      env.state = "warming";
      // Reactive warm-up: start, import the dependencies, one no-op call (task warm-up inputs come with shadows).
      await this.d.backend.warm(env.id, {});
      if ((env.state as EnvironmentState) === "gone") return "environment reclaimed while warming";
      env.readyAt = this.d.clock.now();
      env.coldStartMs = env.readyAt - env.createdAt;
      return null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.envs.delete(env.id);
      env.state = "gone";
      await this.d.backend.destroy(env.id).catch(() => {});
      return message;
    }
  }

  private async coldStart(task: Task, env: EnvironmentView, routedAt: number): Promise<void> {
    const failure = await this.bringUp(env);
    if (failure !== null) {
      await this.finalize(task, {
        status: "failed",
        finishedAt: this.d.clock.now(),
        queueWaitMs: routedAt - task.submittedAt,
        cold: true,
        environmentId: env.id,
        exitStatus: "environment_failed",
        error: `environment failed to start: ${failure}`,
      });
      this.pump();
      return;
    }
    env.state = "busy";
    await this.execute(task, env, true, routedAt);
  }

  private markBusy(env: EnvironmentView, now: number): void {
    this.accountIdle(env, now);
    env.state = "busy";
  }

  private accountIdle(env: EnvironmentView, now: number): void {
    if (env.idleSince === null) return;
    const mbMs = (now - env.idleSince) * env.spec.resources.memoryMb;
    env.idleMbMs += mbMs;
    this.counters.wastedMbMs += mbMs;
    env.idleSince = null;
  }

  private async execute(task: Task, env: EnvironmentView, cold: boolean, routedAt: number): Promise<void> {
    const startedAt = this.d.clock.now();
    const series = `${task.user}\u0000${task.taskType}`;
    const concurrent = (this.seriesRunning.get(series) ?? 0) + 1;
    this.seriesRunning.set(series, concurrent);
    this.running.set(task.id, { task, envId: env.id });
    let result: RunResult;
    try {
      await this.d.store.updateTask(task.id, {
        status: "running",
        startedAt,
        queueWaitMs: routedAt - task.submittedAt,
        startLatencyMs: startedAt - routedAt,
        cold,
        environmentId: env.id,
      });
      await this.d.store.recordConcurrency(task.user, task.taskType, minuteOf(startedAt), concurrent);
      const modulePath = modulePathFor(task, this.d.tasksDir, this.d.codeDir);
      result = await this.d.backend.run(env.id, {
        taskId: task.id,
        modulePath,
        fn: task.fn,
        input: task.input,
        timeoutMs: task.timeoutMs,
      });
    } catch (err) {
      result = {
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
    } finally {
      this.running.delete(task.id);
      this.seriesRunning.set(series, (this.seriesRunning.get(series) ?? 1) - 1);
    }
    const finishedAt = this.d.clock.now();
    env.tasksRun++;
    const envDead = result.failure === "oom" || result.failure === "crashed" || result.failure === "timeout";
    if (envDead) {
      this.replaceDeadEnvironment(env, result.failure ?? "crashed");
    } else if (env.state === "busy") {
      env.state = "ready";
      env.idleSince = finishedAt;
    }
    await this.finalize(task, {
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
      output: result.ok ? this.storedOutput(result) : undefined,
    });
    this.pump();
  }

  private storedOutput(result: RunResult): unknown {
    if (result.outputBytes <= this.d.config.limits.maxStoredOutputBytes) return result.output ?? null;
    return { truncated: true, outputBytes: result.outputBytes };
  }

  /** A worker that died under a task is replaced by a fresh one of the same user and spec. */
  private replaceDeadEnvironment(env: EnvironmentView, why: string): void {
    if (env.state === "gone") return;
    env.state = "gone";
    this.envs.delete(env.id);
    this.d.backend.destroy(env.id).catch(() => {});
    if (this.closing) return;
    const replacement = this.addEnvironment(env.user, env.spec, env.shadow);
    this.counters.replaced++;
    this.d.logger.warn(
      {
        event: "environment_replaced",
        env: env.id,
        replacement: replacement.id,
        user: env.user,
        reason: why,
      },
      "environment died under a task; replacing it",
    );
    this.track(
      this.bringUp(replacement).then((failure) => {
        if (failure !== null) {
          this.d.logger.warn(
            { event: "replacement_failed", env: replacement.id, error: failure },
            "replacement failed",
          );
        } else if (replacement.state === "warming") {
          replacement.state = "ready";
          replacement.idleSince = this.d.clock.now();
        }
        this.pump();
      }),
    );
  }

  private async finalize(task: Task, update: Parameters<HistoryStore["updateTask"]>[1]): Promise<void> {
    if (this.finalized.has(task.id)) return;
    this.finalized.add(task.id);
    if (update.status === "succeeded") this.counters.succeeded++;
    else {
      this.counters.failed++;
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
    try {
      await this.d.store.updateTask(task.id, update);
    } catch (err) {
      this.d.logger.error(
        { event: "history_write_failed", task: task.id, err },
        "could not record task result",
      );
    }
    const record = await this.d.store.getTask(task.id).catch(() => null);
    const list = this.waiters.get(task.id) ?? [];
    this.waiters.delete(task.id);
    if (record) for (const w of list) w(record);
  }

  private onEnvironmentExit(envId: string, reason: string): void {
    const env = this.envs.get(envId);
    if (!env || env.state === "gone") return;
    // A busy environment's task sees the failure through run(); only idle deaths are handled here.
    if (env.state === "busy") return;
    this.accountIdle(env, this.d.clock.now());
    env.state = "gone";
    this.envs.delete(envId);
    this.d.logger.warn(
      { event: "environment_exited", env: envId, user: env.user, reason },
      "idle environment exited",
    );
    this.pump();
  }

  /** Destroys an idle environment, recording why. */
  reclaim(envId: string, reason: string): void {
    const env = this.envs.get(envId);
    if (!env || env.state === "busy" || env.state === "gone") return;
    this.accountIdle(env, this.d.clock.now());
    env.state = "gone";
    this.envs.delete(envId);
    this.counters.reclaimed++;
    this.d.logger.info(
      {
        event: "reclaim",
        env: envId,
        user: env.user,
        reason,
        idleMbMs: env.idleMbMs,
        tasksRun: env.tasksRun,
      },
      "environment reclaimed",
    );
    this.track(this.d.backend.destroy(envId).catch(() => {}));
  }

  /** Periodic work: keep-alive expiry and per-minute concurrency of running series. */
  tick(): void {
    const snap = this.snapshot();
    for (const e of expiredEnvironments(snap, this.d.config.keepAliveMs))
      this.reclaim(e.id, "keep-alive expired");
    const minute = minuteOf(snap.now);
    if (minute !== this.lastConcurrencyMinute) {
      this.lastConcurrencyMinute = minute;
      for (const [series, n] of this.seriesRunning) {
        if (n <= 0) continue;
        const [user, type] = series.split("\u0000") as [string, string];
        this.d.store.recordConcurrency(user, type, minute, n).catch(() => {});
      }
    }
  }

  /**
   * Stops accepting, lets running tasks finish within the grace period, fails what is left with a
   * reason (a task is never left without a final state), then destroys every environment.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    const now = () => this.d.clock.now();
    for (const q of this.queue.drain()) {
      await this.finalize(q.task, {
        status: "failed",
        finishedAt: now(),
        exitStatus: "shutdown",
        error: "server shut down before the task started",
      });
    }
    const deadline = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, 50))]);
    }
    for (const { task } of this.running.values()) {
      await this.finalize(task, {
        status: "failed",
        finishedAt: now(),
        exitStatus: "shutdown",
        error: "server shut down while the task was running",
      });
    }
    await this.d.backend.close();
    this.envs.clear();
  }
}

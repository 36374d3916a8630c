import { type EnvironmentBackend, EnvironmentGoneError, type RunResult } from "../backends/backend.js";
import { type Config, reactiveKeepAliveMs } from "../config/config.js";
import type { Clock } from "../core/clock.js";
import type { EnvironmentSpec, Task, TaskRecord } from "../core/types.js";
import type { HistoryStore } from "../history/store.js";
import { minuteOf } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { seriesKey } from "../plan/shadow-planner.js";
import type { EnvironmentView, PoolSnapshot } from "../pool/environment.js";
import { EnvironmentPool } from "../pool/environment-pool.js";
import { expiredEnvironments, type RouteDecision, routeTask } from "../route/router.js";
import { TaskQueue } from "../route/task-queue.js";
import { MAX_REQUEUES, prepareQueuedTask, type QueuedTask, requeuedUpdate } from "./queued-task.js";
import { finishedUpdate, startedUpdate, startFailedUpdate, unrunnableResult } from "./run-results.js";
import { RunningSeries } from "./running-series.js";
import { type SeriesActivity, SeriesActivityLog } from "./series-activity.js";
import { TaskCompletion, type TaskCounters, type TaskObserver } from "./task-completion.js";
import { modulePathFor } from "./task-factory.js";
import type { TaskInsight } from "./task-insight.js";

// Part of the orchestrator's interface (counters, observer); defined where tasks are counted and reported.
export type { TaskCounters, TaskObserver } from "./task-completion.js";

export class QueueFullError extends Error {}
export class ShuttingDownError extends Error {}

export interface OrchestratorDeps {
  config: Config;
  backend: EnvironmentBackend;
  store: HistoryStore;
  clock: Clock;
  logger: Logger;
  tasksDir: string;
  codeDir: string;
  /** Analysis, classification and resource estimates; without it tasks keep their request/defaults. */
  insight?: TaskInsight;
  /** Recorded as each task's owner, so that a shared history knows which server ran it. */
  serverId?: string;
}

/**
 * The live task path: accept → queue → route → run on the backend → record. Routing and reclaim
 * decisions are the pure functions of src/route given `now`; the pool carries them out.
 * Every accepted task reaches exactly one final state: TaskCompletion's `finalize` is the only way
 * out and is guarded.
 */
export class Orchestrator {
  readonly pool: EnvironmentPool;
  private readonly queue: TaskQueue<QueuedTask>;
  private readonly running = new Map<string, { task: Task; envId: string }>();
  /** Per arrival minute, tasks being accepted (between submit and their arrival being counted). */
  private readonly accepting = new Map<number, number>();
  /** Tasks whose environment is still starting (cold starts); shutdown ends those left at its grace's end. */
  private readonly starting = new Map<string, Task>();
  private readonly runningSeries = new RunningSeries();
  private readonly activity = new SeriesActivityLog();
  private readonly completion: TaskCompletion;
  private readonly pending = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private pumpAgain = false;
  private closing = false;
  observer: TaskObserver = {};
  /**
   * Whether this server's forewarm windows plan its pool now (set by the prediction loop: it has
   * relearned the history and applied a plan): then the windows decide how long series stay loaded
   * and the reactive keep-alive is a short floor. With forecast windows a follower plans nothing.
   */
  planning: () => boolean = () => false;
  readonly counters: TaskCounters = { coldStarts: 0, warmStarts: 0, shadowHits: 0, succeeded: 0, failed: 0 };

  constructor(private readonly d: OrchestratorDeps) {
    this.queue = new TaskQueue(d.config.queue.maxLength);
    this.pool = new EnvironmentPool(d.backend, d.clock, d.config.capacity, d.logger, (p) => this.track(p));
    this.pool.onChange = () => this.pump();
    this.completion = new TaskCompletion({
      store: d.store,
      clock: d.clock,
      logger: d.logger,
      insight: d.insight,
      activity: this.activity,
      counters: this.counters,
      observer: () => this.observer,
    });
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.d.config.reclaimIntervalMs);
    this.timer.unref();
  }

  get queueLength(): number {
    return this.queue.length;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  snapshot(): PoolSnapshot {
    return this.pool.snapshot();
  }

  /** Per series: the last task's spec and module, and when it arrived. */
  seriesActivity(): ReadonlyMap<string, SeriesActivity> {
    return this.activity.all();
  }

  /** Most of a series' tasks routed in one recent minute that would have run at once, all warm. */
  peakConcurrency(series: string, minute: number): number {
    return this.activity.peakConcurrency(series, minute, this.d.clock.now());
  }

  /** Arrivals per series in one recent minute (the last few minutes are kept). */
  arrivalCounts(minute: number): ReadonlyMap<string, number> {
    return this.activity.arrivalsIn(minute);
  }

  /**
   * The earliest minute with tasks still being accepted (analysed, recorded: not in arrivalCounts nor
   * the history's rollups yet), or null. The live windows learn a minute only once it has none, or a
   * task accepted after its minute was learnt would never count (its series would not be kept warm).
   */
  oldestMinuteBeingAccepted(): number | null {
    let oldest: number | null = null;
    for (const m of this.accepting.keys()) if (oldest === null || m < oldest) oldest = m;
    return oldest;
  }

  /** Accepts a built task: it is recorded, then queued. Throws QueueFullError (→ 429) without recording. */
  async submit(task: Task): Promise<void> {
    if (this.closing) throw new ShuttingDownError("server is shutting down");
    const full = () => new QueueFullError(`queue full (${this.queue.maxLength} tasks waiting)`);
    if (this.queue.length >= this.queue.maxLength) throw full();
    const minute = minuteOf(task.submittedAt);
    this.accepting.set(minute, (this.accepting.get(minute) ?? 0) + 1);
    try {
      await this.accept(task, full);
    } finally {
      const left = (this.accepting.get(minute) ?? 1) - 1;
      if (left > 0) this.accepting.set(minute, left);
      else this.accepting.delete(minute);
    }
  }

  private async accept(task: Task, full: () => QueueFullError): Promise<void> {
    const { record, entry } = await prepareQueuedTask(
      task,
      this.d.config.defaults.resources,
      this.d.insight,
      this.d.serverId ?? null,
      this.d.config.capacity,
    );
    // Shutdown may have begun (and drained the queue) while the task was prepared: an entry offered
    // now would never be run nor finalised.
    if (this.closing) throw new ShuttingDownError("server is shutting down");
    if (!this.queue.offer(entry)) throw full();
    try {
      await this.d.store.insertTask(record);
    } catch (err) {
      this.queue.remove(task.id);
      throw err;
    }
    entry.admitted = true;
    if (this.closing) {
      // Shutdown began while the record was written and left this entry to us: it is recorded, so it
      // is accepted and ends here, failed, like every task shutdown found queued (the drain took it).
      await this.completion.shutDown(task, "before the task started");
      return;
    }
    this.activity.record(seriesKey(task.user, task.taskType), {
      user: task.user,
      taskType: task.taskType,
      spec: entry.spec,
      modulePath: modulePathFor(task, this.d.tasksDir, this.d.codeDir, this.d.config.tenantUids.enabled),
      lastArrival: task.submittedAt,
    });
    this.pump();
  }

  /** Resolves with the task's final record, or its current one after `timeoutMs`. */
  waitFor(id: string, timeoutMs: number): Promise<TaskRecord | null> {
    return this.completion.waitFor(id, timeoutMs);
  }

  /**
   * Serves waiting tasks in priority order. One that does not fit yet stays queued and holds back
   * every task of lower priority: otherwise a stream of small low-priority tasks takes each piece of
   * room as it frees and a big urgent task never starts. Tasks of its own priority may start around it.
   */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        let waiting = Number.NEGATIVE_INFINITY;
        for (const q of this.queue.ordered()) {
          if (!q.admitted || this.closing) continue;
          if (q.task.priority < waiting) break;
          const before = this.queue.length;
          // A task waiting for a resize (milliseconds) holds nothing back.
          if (this.dispatch(q) === "wait") continue;
          if (this.queue.length === before) waiting = Math.max(waiting, q.task.priority);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private dispatch(q: QueuedTask): RouteDecision["kind"] {
    const decision = routeTask({ user: q.task.user, spec: q.spec }, this.snapshot());
    if (decision.kind === "queue" || decision.kind === "wait") return decision.kind;
    this.queue.remove(q.id);
    const routedAt = this.d.clock.now();
    this.activity.routed(seriesKey(q.task.user, q.task.taskType), q.task.id, routedAt, q.expectedRunMs);
    if (decision.kind === "warm") {
      const env = this.pool.get(decision.environmentId)!;
      if (env.shadow && env.tasksRun === 0) {
        this.counters.shadowHits++;
        q.shadowHit = true;
      }
      this.pool.markBusy(env);
      this.counters.warmStarts++;
      this.track(this.execute(q, env, false, routedAt));
      return decision.kind;
    }
    for (const id of decision.evict) this.pool.reclaim(id, "evicted: capacity needed by a waiting task");
    if (decision.kind === "resize") {
      const env = this.pool.get(decision.environmentId)!;
      this.pool.markBusy(env);
      // Taken now, not once the backend is done: the next task of this pump must not get it too.
      const before = this.pool.reserve(env, decision.resources);
      this.track(this.resizeThenRun(q, env, decision.resources, before, routedAt));
      return decision.kind;
    }
    const env = this.pool.add(q.task.user, q.spec, false);
    this.counters.coldStarts++;
    this.d.logger.info(
      { event: "cold_start", task: q.task.id, user: q.task.user, env: env.id, reason: decision.reason },
      "cold start",
    );
    this.track(this.coldStart(q, env, routedAt));
    return decision.kind;
  }

  private async resizeThenRun(
    q: QueuedTask,
    env: EnvironmentView,
    resources: EnvironmentSpec["resources"],
    before: EnvironmentSpec["resources"],
    routedAt: number,
  ): Promise<void> {
    const task = q.task;
    // Like a cold start, a resize in progress when shutdown's grace ends leaves its task to shutdown.
    this.starting.set(task.id, task);
    const resized = await this.pool.resize(env, resources, before);
    if (!this.starting.delete(task.id)) return;
    if (resized) {
      this.counters.warmStarts++;
      this.d.logger.info(
        { event: "resize", env: env.id, user: env.user, memoryMb: resources.memoryMb },
        "resized in place",
      );
      await this.execute(q, env, false, routedAt);
      return;
    }
    // The backend cannot resize in place: one of the needed size replaces it, added before the old one
    // (back at its old size) goes, as that reclaim runs the queue, which must not see the room between.
    const bigger = this.pool.add(task.user, { ...q.spec, resources }, false);
    env.state = "ready";
    this.pool.reclaim(env.id, "replaced: too small and not resizable in place");
    this.counters.coldStarts++;
    await this.coldStart(q, bigger, routedAt);
  }

  track(p: Promise<unknown>): void {
    this.pending.add(p);
    p.finally(() => this.pending.delete(p)).catch(() => {});
  }

  private async coldStart(q: QueuedTask, env: EnvironmentView, routedAt: number): Promise<void> {
    const task = q.task;
    this.starting.set(task.id, task);
    const failure = await this.pool.bringUp(env);
    // Shutdown's grace ended while the environment started: it has ended the task (and destroyed the
    // environment, which may be why bringUp failed). It must not run now, nor end twice.
    if (!this.starting.delete(task.id)) return;
    if (failure !== null) {
      await this.completion.finalize(
        task,
        startFailedUpdate(task, routedAt, this.d.clock.now(), env.id, failure),
      );
      this.pump();
      return;
    }
    env.state = "busy";
    await this.execute(q, env, true, routedAt);
  }

  private async execute(q: QueuedTask, env: EnvironmentView, cold: boolean, routedAt: number): Promise<void> {
    const task = q.task;
    const startedAt = this.d.clock.now();
    const concurrent = this.runningSeries.started(task.user, task.taskType);
    this.activity.started(task.id, startedAt);
    this.running.set(task.id, { task, envId: env.id });
    this.observer.started?.(cold, startedAt - routedAt);
    let result: RunResult;
    let gone = false;
    try {
      await this.d.store.updateTask(task.id, startedUpdate(task, routedAt, startedAt, cold, env.id));
      // In the minute the task arrived (its rollup's): a burst that starts after the minute's end
      // (cold starts, queueing) is still that minute's concurrency.
      await this.d.store.recordConcurrency(task.user, task.taskType, minuteOf(task.submittedAt), concurrent);
      result = await this.d.backend.run(env.id, {
        taskId: task.id,
        modulePath: modulePathFor(task, this.d.tasksDir, this.d.codeDir, this.d.config.tenantUids.enabled),
        fn: task.fn,
        input: task.input,
        timeoutMs: task.timeoutMs,
      });
    } catch (err) {
      gone = err instanceof EnvironmentGoneError;
      result = unrunnableResult(task, err);
    } finally {
      this.running.delete(task.id);
      this.runningSeries.ended(task.user, task.taskType);
    }
    if (gone && (await this.requeue(q, env, cold))) return;
    const finishedAt = this.d.clock.now();
    env.tasksRun++;
    if (result.failure === "oom" || result.failure === "crashed" || result.failure === "timeout") {
      this.pool.replaceDead(env, result.failure, this.closing);
    } else if (env.state === "busy") {
      this.pool.markIdle(env);
    }
    await this.completion.finalize(
      task,
      finishedUpdate(result, finishedAt, this.d.config.limits.maxStoredOutputBytes),
    );
    this.pump();
  }

  /**
   * The task's worker was found dead (its exit not announced yet when the task was routed): nothing
   * ran, so the environment is dropped and the task queued again, a bounded number of times; false
   * if it cannot be (it then fails as unrunnable).
   */
  private async requeue(q: QueuedTask, env: EnvironmentView, cold: boolean): Promise<boolean> {
    // The dead environment stays (busy) until the task is back in the queue: dropping it frees room
    // and runs the queue, and that room must go to this task by its priority, not to what waits.
    const drop = () => this.pool.dropDead(env, "worker found gone when a task was to run");
    if (this.closing || q.requeues++ >= MAX_REQUEUES) {
      drop();
      return false;
    }
    this.activity.unrouted(q.id);
    this.starting.set(q.id, q.task); // shutdown's grace may end while the record is put back
    const reverted = await this.d.store
      .updateTask(q.id, requeuedUpdate())
      .then(() => true)
      .catch(() => false);
    // Shutdown's grace ended meanwhile and ended the task (true: nothing more to do here); or the
    // record could not be put back (false: it fails as unrunnable).
    const ours = this.starting.delete(q.id);
    if (!ours || !reverted) {
      drop();
      return !ours;
    }
    if (this.closing) {
      // Shutdown drained the queue while the record was written: the task ends here.
      drop();
      await this.completion.shutDown(q.task, "before the task started");
    } else {
      this.uncountStart(q, cold);
      this.queue.putBack(q);
      drop();
    }
    this.pump();
    return true;
  }

  /**
   * A start that found its worker dead did not happen: the task's counts are those of the start it
   * gets next (Prometheus counters only go up, so they count it as a requeue instead).
   */
  private uncountStart(q: QueuedTask, cold: boolean): void {
    if (cold) this.counters.coldStarts--;
    else this.counters.warmStarts--;
    if (q.shadowHit) this.counters.shadowHits--;
    q.shadowHit = false;
    this.observer.requeued?.(cold);
  }

  /** Periodic work: keep-alive expiry and per-minute concurrency of running series. */
  tick(): void {
    const snap = this.snapshot();
    for (const e of expiredEnvironments(snap, reactiveKeepAliveMs(this.d.config, this.planning())))
      this.pool.reclaim(e.id, "keep-alive expired");
    if (!this.runningSeries.newMinute(snap.now, this.d.store)) return;
    try {
      this.d.insight?.save();
    } catch (err) {
      this.d.logger.warn(
        { event: "classifier_save_failed", error: String(err) },
        "could not save task types",
      );
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
    // From here a final write the store fails is tried once, not retried: with the store down, a
    // retried write would keep shutdown waiting for ever (the next start's cleanup fails what is left).
    this.completion.stop();
    // An entry not yet admitted is still being recorded: its submit finishes it once the record exists.
    for (const q of this.queue.drain())
      if (q.admitted) await this.completion.shutDown(q.task, "before the task started");
    const deadline = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, 50))]);
    }
    // Both taken before any await: a start (or resize) that finishes while these are written finds
    // its task gone and stops, instead of running it after the grace.
    const starting = [...this.starting.values()];
    this.starting.clear();
    const running = [...this.running.values()];
    for (const { task } of running) await this.completion.shutDown(task, "while the task was running");
    for (const task of starting) await this.completion.shutDown(task, "while its environment was starting");
    await this.pool.close();
    await this.d.insight?.close();
  }
}

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { BackendEnvironment, Invocation, RunResult, WarmupRequest } from "../../src/backends/backend.js";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { parseConfig } from "../../src/config/config.js";
import { RealClock } from "../../src/core/clock.js";
import type { EnvironmentSpec, ResourceVector, TaskRecord } from "../../src/core/types.js";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { silentLogger } from "../../src/log/logger.js";
import { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { buildTask, validateSubmission } from "../../src/orchestrator/task-factory.js";

type Update = Partial<TaskRecord>;

/** A promise and its resolver. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * The real process backend with hooks on the steps a race needs: user b's environments start only
 * when `openB` is called, `resizeGate` holds resizes, and every run is noted.
 */
class HookedProcessBackend extends ProcessBackend {
  readonly ran: string[] = [];
  private readonly gateB = deferred();
  readonly bWarm = deferred();
  resizeGate: { promise: Promise<boolean>; resolve: (ok: boolean) => void } | null = null;
  readonly resizing = deferred();
  openB(): void {
    this.gateB.resolve();
  }
  override async create(id: string, user: string, spec: EnvironmentSpec): Promise<BackendEnvironment> {
    if (user === "b") await this.gateB.promise;
    // Claims every environment grows in place (a Node worker's heap would cap it): the router then
    // resizes rather than starting cold, and resizeGate holds the resize.
    return { ...(await super.create(id, user, spec)), maxInPlaceMemoryMb: null };
  }
  override async warm(id: string, request: WarmupRequest) {
    const r = await super.warm(id, request);
    if (this.list().some((e) => e.id === id && e.user === "b")) this.bWarm.resolve();
    return r;
  }
  override run(id: string, invocation: Invocation): Promise<RunResult> {
    this.ran.push(invocation.taskId);
    return super.run(id, invocation);
  }
  override async resize(id: string, resources: ResourceVector): Promise<boolean> {
    if (!this.resizeGate) return super.resize(id, resources);
    this.resizing.resolve();
    return this.resizeGate.promise;
  }
}

/** SQLite, with a hook run before a task's update is written. */
class HookedStore extends SqliteHistoryStore {
  beforeUpdate: ((id: string, update: Update) => Promise<void>) | null = null;
  override async updateTask(id: string, update: Update): Promise<void> {
    await this.beforeUpdate?.(id, update);
    return super.updateTask(id, update);
  }
}

function setUp(extra: Record<string, unknown> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-races-"));
  const tasksDir = path.join(dir, "tasks");
  fs.mkdirSync(tasksDir);
  fs.writeFileSync(path.join(tasksDir, "slow.mjs"), "export const handler = () => new Promise(() => {});\n");
  fs.writeFileSync(path.join(tasksDir, "quick.mjs"), "export const handler = (x) => x;\n");
  const config = parseConfig({ dataDir: dir, tasksDir, ...extra });
  const backend = new HookedProcessBackend({ workDir: path.join(dir, "envs"), logger: silentLogger() });
  const store = new HookedStore(path.join(dir, "history.db"));
  const clock = new RealClock();
  const orchestrator = new Orchestrator({
    config,
    backend,
    store,
    clock,
    logger: silentLogger(),
    tasksDir,
    codeDir: path.join(dir, "code"),
  });
  orchestrator.start();
  const task = (user: string, entry: string, resources?: Partial<ResourceVector>) =>
    buildTask(
      validateSubmission({ user, runtime: "node", entry, ...(resources ? { resources } : {}) }),
      config,
      tasksDir,
      clock.now(),
    );
  return { orchestrator, backend, store, task };
}

const until = async (what: string, check: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
};

test("a cold start that finishes while shutdown fails the running tasks does not run its task after the grace", async () => {
  const { orchestrator, backend, store, task } = setUp();
  const a = task("a", "slow.mjs");
  const b = task("b", "quick.mjs");
  // While a's shutdown record is written, b's environment finishes starting.
  store.beforeUpdate = async (id, update) => {
    if (id !== a.id || update.exitStatus !== "shutdown") return;
    backend.openB();
    await backend.bWarm.promise;
    await new Promise((r) => setTimeout(r, 50));
  };
  await orchestrator.submit(a);
  await orchestrator.submit(b);
  await until("a runs", () => backend.ran.includes(a.id));
  await orchestrator.shutdown(100);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(backend.ran, [a.id], "b never ran");
  const rb = await store.getTask(b.id);
  assert.equal(rb?.exitStatus, "shutdown");
  assert.match(String(rb?.error), /while its environment was starting/);
  assert.equal(rb?.startedAt, null);
  const ra = await store.getTask(a.id);
  assert.match(String(ra?.error), /while the task was running/);
  await store.close();
});

test("a task whose environment is being resized when the grace ends ends `shutdown` and never runs", async () => {
  const { orchestrator, backend, store, task } = setUp();
  // a's environment (the default size) is idle; b, the same user's task, needs more memory than it.
  const a = task("a", "quick.mjs");
  await orchestrator.submit(a);
  await until(
    "a ended",
    () => backend.ran.includes(a.id) && orchestrator.snapshot().environments.every((e) => e.state !== "busy"),
  );
  backend.resizeGate = deferred<boolean>();
  const b = task("a", "quick.mjs", { memoryMb: 1024 });
  await orchestrator.submit(b);
  await backend.resizing.promise;
  await orchestrator.shutdown(100);
  const atEnd = await store.getTask(b.id);
  assert.equal(atEnd?.exitStatus, "shutdown", "shutdown ended it");
  assert.match(String(atEnd?.error), /while its environment was starting/);
  // The resize succeeds afterwards: the task must still not run.
  backend.resizeGate.resolve(true);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(backend.ran, [a.id]);
  await store.close();
});

test("shutdown ends though the history fails every final write while a task is queued (the writes are not retried then)", async () => {
  const { orchestrator, backend, store, task } = setUp({ capacity: { maxEnvironments: 1 } });
  const a = task("a", "slow.mjs");
  const b = task("a", "quick.mjs");
  await orchestrator.submit(a);
  await until("a runs", () => backend.ran.includes(a.id));
  await orchestrator.submit(b);
  // The database goes away: every final state fails to be written.
  store.beforeUpdate = async (_id, update) => {
    if (update.finishedAt !== undefined) throw new Error("Connection terminated unexpectedly");
  };
  const ended = await Promise.race([
    orchestrator.shutdown(200).then(() => "ended"),
    new Promise((r) => setTimeout(() => r("still waiting after 20 s"), 20_000)),
  ]);
  assert.equal(ended, "ended");
  store.beforeUpdate = null;
  // Left for the next start's cleanup: neither was recorded as ended.
  assert.deepEqual(
    [(await store.getTask(a.id))?.status, (await store.getTask(b.id))?.status],
    ["running", "queued"],
  );
  await store.close();
});

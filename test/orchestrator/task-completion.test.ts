import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { VirtualClock } from "../../src/core/clock.js";
import type { Task, TaskRecord } from "../../src/core/types.js";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import type { HistoryStore, TaskUpdate } from "../../src/history/store.js";
import { silentLogger } from "../../src/log/logger.js";
import { emptyRecord } from "../../src/orchestrator/records.js";
import { SeriesActivityLog } from "../../src/orchestrator/series-activity.js";
import { TaskCompletion, type TaskCounters } from "../../src/orchestrator/task-completion.js";

const task = (): Task => ({
  id: randomUUID(),
  user: "u",
  taskType: "t",
  typeDeclared: true,
  runtime: "node",
  fn: "handler",
  dependencies: [],
  input: null,
  inputBytes: 4,
  priority: 5,
  timeoutMs: 1000,
  submittedAt: 0,
});

/** The history's task records in a map; `writes` collects the updates when given. */
function storeOf(records: Map<string, TaskRecord>, writes?: TaskUpdate[]): HistoryStore {
  const store: Pick<HistoryStore, "updateTask" | "getTask"> = {
    updateTask: async (id, update) => {
      writes?.push(update);
      const r = records.get(id);
      if (r) records.set(id, { ...r, ...update });
    },
    getTask: async (id) => records.get(id) ?? null,
  };
  return store as HistoryStore;
}

function completion(store: HistoryStore, counters: TaskCounters, finished?: string[]): TaskCompletion {
  return new TaskCompletion({
    store,
    clock: new VirtualClock(1000),
    logger: silentLogger(),
    activity: new SeriesActivityLog(),
    counters,
    observer: () => ({ finished: (s) => finished?.push(s) }),
  });
}

const newCounters = (): TaskCounters => ({
  coldStarts: 0,
  warmStarts: 0,
  shadowHits: 0,
  succeeded: 0,
  failed: 0,
});

test("finished tasks are not remembered, and each still ends once: memory stays flat over 100,000 of them", async () => {
  const t = task();
  const records = new Map([[t.id, emptyRecord(t)]]);
  const writes: TaskUpdate[] = [];
  const once = newCounters();
  const finished: string[] = [];
  const c1 = completion(storeOf(records, writes), once, finished);
  const waited = c1.waitFor(t.id, 60_000);
  // Shutdown's failure, then the run's own result: the first stands.
  await c1.shutDown(t, "while the task was running");
  await c1.finalize(t, { status: "succeeded", finishedAt: 2000, exitStatus: "ok" });
  assert.equal((await waited)?.exitStatus, "shutdown");
  assert.deepEqual(
    writes.map((w) => w.exitStatus),
    ["shutdown"],
  );
  assert.deepEqual(finished, ["failed"]);
  assert.deepEqual([once.failed, once.succeeded], [1, 0]);

  // The heap is measured after full collections, so what is left is what the completion keeps.
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const counters = newCounters();
  // Nothing is kept by the store or the observer here.
  const c = completion(storeOf(new Map()), counters);
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const each = task();
      await c.shutDown(each, "while the task was running");
      await c.finalize(each, { status: "succeeded", finishedAt: 2000 });
    }
  };
  await run(1000); // code paths compiled, maps sized
  gc();
  const before = process.memoryUsage().heapUsed;
  await run(100_000);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.deepEqual([counters.failed, counters.succeeded], [101_000, 0]);
  // Remembering the 100,000 ids held ~50 MB.
  assert.ok(grown < 3 * 1024 * 1024, `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MB`);
});

test("a waiter whose task ends while its record is being read gets the final record, not its timeout's", async () => {
  const t = task();
  const records = new Map<string, TaskRecord>([[t.id, { ...emptyRecord(t), status: "running" }]]);
  const inner = storeOf(records);
  let reads = 0;
  let c!: TaskCompletion;
  // The first read (the waiter's) sees the task running, and the task ends during it; any later read
  // fails, so only a waiter registered in time can learn the final state.
  const store = {
    ...inner,
    updateTask: inner.updateTask,
    getTask: async (id: string) => {
      reads++;
      if (reads === 1) {
        const stale = records.get(id) ?? null;
        await c.finalize(t, { status: "succeeded", finishedAt: 2000 });
        return stale;
      }
      if (reads === 2) return inner.getTask(id); // finalize's own read
      return null;
    },
  } as HistoryStore;
  c = completion(store, newCounters());
  const got = await c.waitFor(t.id, 200);
  assert.equal(got?.status, "succeeded");
});

/** The real SQLite store, whose next `failures` final updates fail as a lost connection would. */
class FlakyStore extends SqliteHistoryStore {
  failures = 0;
  override async updateTask(id: string, update: TaskUpdate): Promise<void> {
    if (update.finishedAt !== undefined && this.failures > 0) {
      this.failures--;
      throw new Error("Connection terminated unexpectedly");
    }
    return super.updateTask(id, update);
  }
}

test("a final write the store fails is retried until it lands: the task does not stay running", async () => {
  const store = new FlakyStore(":memory:");
  try {
    const t = task();
    await store.insertTask(emptyRecord(t));
    await store.updateTask(t.id, { status: "running", startedAt: 500 });
    const counters = newCounters();
    const c = completion(store, counters);
    store.failures = 3;
    const waited = c.waitFor(t.id, 60_000);
    await c.finalize(t, { status: "succeeded", finishedAt: 2000, exitStatus: "ok" });
    assert.equal(store.failures, 0, "it failed three times");
    assert.equal((await store.getTask(t.id))?.status, "succeeded");
    assert.equal((await waited)?.status, "succeeded", "the waiter gets the final record");
    assert.equal(counters.succeeded, 1, "counted once");
  } finally {
    await store.close();
  }
});

test("after stop() (shutdown's grace is over) a failing final write is given up, not retried for ever", async () => {
  const store = new FlakyStore(":memory:");
  try {
    const t = task();
    await store.insertTask(emptyRecord(t));
    const c = completion(store, newCounters());
    store.failures = 1_000_000;
    const done = c.finalize(t, { status: "failed", finishedAt: 2000, exitStatus: "error" });
    await new Promise((r) => setTimeout(r, 350));
    const tried = 1_000_000 - store.failures;
    assert.ok(tried >= 2, `retried (${tried} attempts so far)`);
    c.stop();
    await done;
    assert.equal((await store.getTask(t.id))?.status, "queued", "left for the next start's cleanup");
  } finally {
    await store.close();
  }
});

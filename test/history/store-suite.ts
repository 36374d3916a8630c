import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Task, TaskRecord } from "../../src/core/types.js";
import { type HistoryStore, TaskEndedError } from "../../src/history/store.js";
import { emptyRecord } from "../../src/orchestrator/records.js";

const MIN = 60_000;

export function task(id: string, user: string, type: string, submittedAt: number): Task {
  return {
    id,
    user,
    taskType: type,
    typeDeclared: true,
    runtime: "node",
    entry: "a.mjs",
    fn: "handler",
    dependencies: ["lodash"],
    input: { x: 1 },
    inputBytes: 7,
    priority: 5,
    timeoutMs: 1000,
    submittedAt,
  };
}

/** The record of `task` as the server accepts it: routed for an environment of `memoryMb`. */
export function routedRecord(t: Task, memoryMb: number): TaskRecord {
  return {
    ...emptyRecord(t),
    insight: {
      typeDeclared: true,
      similarity: null,
      matchedExisting: null,
      inputKind: "object",
      sizeClass: 0,
      estimate: null,
      routedMemoryMb: memoryMb,
    },
  };
}

/**
 * The behaviour every HistoryStore must have; run against each implementation (SQLite now, PostgreSQL
 * with the production issue) so that they cannot drift apart.
 */
export function historyStoreSuite(
  name: string,
  open: () => Promise<HistoryStore>,
  reopen?: () => Promise<HistoryStore>,
) {
  describe(`HistoryStore: ${name}`, () => {
    let store: HistoryStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    test("records a task and returns it field for field", async () => {
      const rec = emptyRecord(task("t1", "alice", "resize", 10 * MIN + 5));
      await store.insertTask(rec);
      assert.deepEqual(await store.getTask("t1"), rec);
      assert.equal(await store.getTask("nope"), null);
    });

    test("a final update stores usage and adds it to the finish minute's rollup", async () => {
      await store.updateTask("t1", {
        status: "running",
        startedAt: 10 * MIN + 10,
        cold: true,
        environmentId: "env-1",
        queueWaitMs: 3,
        startLatencyMs: 120,
      });
      await store.updateTask("t1", {
        status: "succeeded",
        finishedAt: 11 * MIN + 1,
        cpuSeconds: 0.25,
        peakMemoryMb: 40,
        networkInBytes: 7,
        networkOutBytes: 20,
        storageBytesWritten: 4096,
        outputBytes: 20,
        exitStatus: "ok",
        output: { y: [1, 2] },
      });
      const got = await store.getTask("t1");
      assert.equal(got?.status, "succeeded");
      assert.equal(got?.cold, true);
      assert.deepEqual(got?.output, { y: [1, 2] });
      assert.deepEqual(got?.dependencies, ["lodash"]);
      const rows = await store.rollups({ user: "alice" });
      assert.deepEqual(
        rows.map((r) => [
          r.minute,
          r.arrivals,
          r.completed,
          r.cpuSeconds,
          r.peakMemoryMb,
          r.storageBytesWritten,
        ]),
        [
          [10, 1, 0, 0, 0, 0],
          [11, 0, 1, 0.25, 40, 4096],
        ],
      );
    });

    test("rollups count arrivals per series and minute and keep the peak concurrency", async () => {
      await store.insertTask(emptyRecord(task("t2", "alice", "resize", 10 * MIN + 30_000)));
      await store.insertTask(emptyRecord(task("t3", "alice", "thumb", 10 * MIN + 40_000)));
      await store.insertTask(emptyRecord(task("t4", "bob", "resize", 12 * MIN)));
      await store.recordConcurrency("alice", "resize", 10, 2);
      await store.recordConcurrency("alice", "resize", 10, 1);
      const r = await store.rollups({ user: "alice", taskType: "resize", fromMinute: 10, toMinute: 10 });
      assert.equal(r.length, 1);
      assert.equal(r[0]?.arrivals, 2);
      assert.equal(r[0]?.peakConcurrency, 2);
      const series = await store.series();
      assert.deepEqual(
        series.map((s) => [s.user, s.taskType, s.arrivals, s.firstMinute, s.lastMinute]),
        [
          ["alice", "resize", 2, 10, 11],
          ["alice", "thumb", 1, 10, 10],
          ["bob", "resize", 1, 12, 12],
        ],
      );
    });

    test("lists tasks newest first, filtered", async () => {
      const all = await store.listTasks({ user: "alice" });
      assert.deepEqual(
        all.map((t) => t.id),
        ["t3", "t2", "t1"],
      );
      assert.deepEqual(
        (await store.listTasks({ status: "queued", limit: 1 })).map((t) => t.id),
        ["t4"],
      );
    });

    test("updating an unknown task is an error", async () => {
      await assert.rejects(store.updateTask("missing", { status: "failed" }), /no task missing/);
    });

    test("failing unfinished tasks can be limited to one owner (server)", async () => {
      await store.insertTask({ ...emptyRecord(task("o1", "carol", "x", 15 * MIN)), owner: "server-a" });
      await store.insertTask({ ...emptyRecord(task("o2", "carol", "x", 15 * MIN)), owner: "server-b" });
      assert.deepEqual(await store.unfinishedOwners(), ["server-a", "server-b"]);
      assert.equal(await store.failUnfinished(16 * MIN, "server-a died", "server-a"), 1);
      assert.equal((await store.getTask("o1"))?.status, "failed");
      assert.equal((await store.getTask("o1"))?.error, "server-a died");
      assert.equal((await store.getTask("o2"))?.status, "queued");
      assert.equal((await store.getTask("o2"))?.owner, "server-b");
      assert.deepEqual(await store.unfinishedOwners(), ["server-b"]);
      await store.updateTask("o2", { status: "succeeded", finishedAt: 16 * MIN });
    });

    test("unfinished tasks are failed with the reason, finished ones untouched", async () => {
      const n = await store.failUnfinished(20 * MIN, "interrupted");
      assert.equal(n, 3);
      assert.equal((await store.getTask("t2"))?.status, "failed");
      assert.equal((await store.getTask("t2"))?.error, "interrupted");
      assert.equal((await store.getTask("t1"))?.status, "succeeded");
    });

    if (reopen) {
      test("records survive closing and reopening the store", async () => {
        await store.close();
        store = await reopen();
        assert.equal((await store.getTask("t1"))?.status, "succeeded");
        assert.equal((await store.listTasks({ limit: 100 })).length, 6);
      });
    }

    test("an id inserted twice is rejected and its arrival is counted once", async () => {
      await store.insertTask(emptyRecord(task("dup", "dora", "x", 30 * MIN)));
      await assert.rejects(store.insertTask(emptyRecord(task("dup", "dora", "x", 31 * MIN))));
      assert.deepEqual(
        (await store.rollups({ user: "dora" })).map((r) => [r.minute, r.arrivals]),
        [[30, 1]],
      );
      assert.equal((await store.getTask("dup"))?.submittedAt, 30 * MIN);
    });

    test("tasks submitted at the same instant list newest inserted first", async () => {
      await store.insertTask(emptyRecord(task("tie-a", "tess", "x", 40 * MIN)));
      await store.insertTask(emptyRecord(task("tie-b", "tess", "x", 40 * MIN)));
      assert.deepEqual(
        (await store.listTasks({ user: "tess" })).map((t) => t.id),
        ["tie-b", "tie-a"],
      );
    });

    test("epoch-scale times and byte counts beyond 32 bits come back as numbers", async () => {
      const at = Date.UTC(2024, 0, 15, 12, 30);
      const rec = { ...emptyRecord(task("big", "gina", "x", at)), inputBytes: 5_000_000_000 };
      await store.insertTask(rec);
      await store.updateTask("big", {
        status: "succeeded",
        finishedAt: at + 1500,
        storageBytesWritten: 2 ** 40,
      });
      const got = await store.getTask("big");
      assert.equal(got?.submittedAt, at);
      assert.equal(got?.inputBytes, 5_000_000_000);
      assert.equal(got?.finishedAt, at + 1500);
      const [row] = await store.rollups({ user: "gina", fromMinute: Math.floor(at / MIN) });
      assert.equal(row?.minute, Math.floor(at / MIN));
      assert.equal(row?.storageBytesWritten, 2 ** 40);
      assert.equal(row?.firstArrivalMs, at, "an epoch-scale arrival time comes back as a number");
      assert.equal(typeof (await store.series()).find((s) => s.user === "gina")?.firstMinute, "number");
    });

    test("series and rollups order text bytewise (uppercase before lowercase)", async () => {
      await store.insertTask(emptyRecord(task("case-1", "Zed", "b", 50 * MIN)));
      await store.insertTask(emptyRecord(task("case-2", "Zed", "B", 50 * MIN)));
      const users = (await store.series()).map((s) => `${s.user}/${s.taskType}`);
      const bytewise = [...users].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(users, bytewise);
      assert.deepEqual(users.slice(0, 2), ["Zed/B", "Zed/b"]);
      const rollupKeys = (await store.rollups()).map((r) => `${r.user}/${r.taskType}`);
      assert.deepEqual(rollupKeys.slice(0, 2), ["Zed/B", "Zed/b"]);
    });

    test("retention: prune drops finished tasks and rollup minutes before the cut-off, keeps later ones", async () => {
      const DAY = 1440 * MIN;
      await store.insertTask(emptyRecord(task("late", "erin", "x", 100 * DAY)));
      await store.updateTask("late", { status: "succeeded", finishedAt: 100 * DAY + 1000 });
      const before = await store.getTask("t1");
      assert.ok(before, "t1 exists before pruning");
      const r = await store.prune(70 * DAY);
      assert.ok(r.deletedRollupRows > 0);
      assert.equal(await store.getTask("t1"), null, "a task of an earlier month is gone");
      assert.equal((await store.getTask("late"))?.status, "succeeded");
      const left = await store.rollups();
      assert.ok(
        left.length > 0 && left.every((x) => x.minute >= 70 * 1440),
        "only later rollup minutes remain",
      );
    });

    test("a task that has ended is never changed again: the first final state and its usage stand", async () => {
      await store.insertTask(emptyRecord(task("twice", "jon", "x", 40 * MIN)));
      await store.updateTask("twice", { status: "running", startedAt: 40 * MIN + 5 });
      await store.updateTask("twice", { status: "failed", finishedAt: 41 * MIN, exitStatus: "interrupted" });
      await assert.rejects(
        store.updateTask("twice", { status: "succeeded", finishedAt: 42 * MIN, cpuSeconds: 3 }),
        (err: unknown) => err instanceof TaskEndedError && err.status === "failed",
      );
      await assert.rejects(store.updateTask("twice", { status: "running" }), TaskEndedError);
      const t = await store.getTask("twice");
      assert.equal(t?.status, "failed");
      assert.equal(t?.exitStatus, "interrupted");
      const rows = await store.rollups({ user: "jon" });
      assert.equal(
        rows.reduce((n, r) => n + r.completed, 0),
        1,
        "usage counted once",
      );
      await assert.rejects(store.updateTask("nobody", { status: "failed" }), /no task nobody/);
    });

    test("retention keeps an old task that is still queued or running: it must still reach its final state", async () => {
      const DAY = 1440 * MIN;
      await store.insertTask(emptyRecord(task("old-run", "ivy", "x", 5 * DAY)));
      await store.updateTask("old-run", { status: "running", startedAt: 5 * DAY + 10 });
      await store.insertTask(emptyRecord(task("old-wait", "ivy", "x", 5 * DAY + 20)));
      await store.insertTask(emptyRecord(task("old-done", "ivy", "x", 5 * DAY + 30)));
      await store.updateTask("old-done", { status: "succeeded", finishedAt: 5 * DAY + 40 });
      await store.prune(70 * DAY);
      assert.equal(await store.getTask("old-done"), null, "a finished old task is gone");
      assert.equal((await store.getTask("old-run"))?.status, "running");
      assert.equal((await store.getTask("old-wait"))?.status, "queued");
      await store.updateTask("old-run", { status: "succeeded", finishedAt: 71 * DAY });
      assert.equal((await store.getTask("old-run"))?.status, "succeeded");
      assert.ok((await store.failUnfinished(71 * DAY, "gone", undefined)) >= 1);
      assert.equal((await store.getTask("old-wait"))?.status, "failed");
    });

    test("a minute's rollup keeps its earliest arrival, whatever order tasks are recorded in", async () => {
      await store.insertTask(emptyRecord(task("e1", "fern", "x", 20 * MIN + 30_000)));
      await store.insertTask(emptyRecord(task("e2", "fern", "x", 20 * MIN + 10_000)));
      await store.insertTask(emptyRecord(task("e3", "fern", "x", 20 * MIN + 50_000)));
      await store.insertTask(emptyRecord(task("e4", "fern", "x", 21 * MIN + 59_000)));
      const rows = await store.rollups({ user: "fern" });
      assert.deepEqual(
        rows.map((r) => [r.minute, r.arrivals, r.firstArrivalMs]),
        [
          [20, 3, 20 * MIN + 10_000],
          [21, 1, 21 * MIN + 59_000],
        ],
      );
    });

    test("a minute's rollup keeps the memory its last arrival was routed for", async () => {
      const routed = (id: string, at: number, memoryMb: number | null) =>
        memoryMb === null
          ? emptyRecord(task(id, "gus", "x", at))
          : routedRecord(task(id, "gus", "x", at), memoryMb);
      await store.insertTask(routed("g1", 30 * MIN + 1_000, 384));
      await store.insertTask(routed("g2", 30 * MIN + 2_000, 512));
      await store.insertTask(routed("g3", 30 * MIN + 3_000, null));
      await store.insertTask(routed("g4", 31 * MIN, null));
      const rows = await store.rollups({ user: "gus" });
      assert.deepEqual(
        rows.map((r) => [r.minute, r.arrivals, r.memoryMb]),
        [
          [30, 3, 512],
          [31, 1, null],
        ],
      );
    });

    test("numbers no column can hold as given are stored alike: not-finite as null, whole-number fields rounded", async () => {
      await store.insertTask(emptyRecord(task("h1", "hal", "x", 40 * MIN)));
      await store.updateTask("h1", {
        status: "succeeded",
        finishedAt: 40 * MIN + 500.4,
        cpuSeconds: Number.NaN,
        peakMemoryMb: Number.POSITIVE_INFINITY,
        storageBytesWritten: 1.5,
        networkInBytes: 2.4,
      });
      const got = await store.getTask("h1");
      assert.deepEqual(
        [got?.finishedAt, got?.cpuSeconds, got?.peakMemoryMb, got?.storageBytesWritten, got?.networkInBytes],
        [40 * MIN + 500, null, null, 2, 2],
      );
      // The usage rolled up stays finite (a NaN would poison the minute's sums for good).
      const [row] = await store.rollups({ user: "hal" });
      assert.deepEqual([row?.cpuSeconds, row?.storageBytesWritten], [0, 2]);
    });
  });
}

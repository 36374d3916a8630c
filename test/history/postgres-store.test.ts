import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import pg from "pg";
import {
  ensureMonthPartition,
  migratePostgres,
  monthStart,
  quoteIdent,
} from "../../src/history/postgres-migrations.js";
import { PostgresHistoryStore } from "../../src/history/postgres-store.js";
import { emptyRecord } from "../../src/orchestrator/records.js";
import { historyStoreSuite, task } from "./store-suite.js";

/** The local test server (trust auth); CI starts it if it is down. */
const TEST_DATABASE_URL = process.env.FOREWARM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const run = `fw_test_${process.pid}_${randomBytes(3).toString("hex")}`;
const schemas: string[] = [];
/** A fresh schema per use so that runs (and parallel CI jobs) never see each other's rows. */
function freshSchema(label: string): string {
  const name = `${run}_${label}`;
  schemas.push(name);
  return name;
}

after(async () => {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
  } finally {
    await client.end();
  }
});

const suiteSchema = freshSchema("suite");
const openSuiteStore = () =>
  PostgresHistoryStore.open({ connectionString: TEST_DATABASE_URL, schema: suiteSchema });
historyStoreSuite("PostgreSQL", openSuiteStore, openSuiteStore);

const JAN = Date.UTC(2024, 0, 20, 8, 0);
const FEB = Date.UTC(2024, 1, 3, 9, 15);
const MAR = Date.UTC(2024, 2, 1, 0, 0);

async function partitionOfEachTask(store: PostgresHistoryStore): Promise<Record<string, string>> {
  const res = await store.pool.query<{ id: string; part: string }>(
    `SELECT id, tableoid::regclass::text AS part FROM ${quoteIdent(store.schema)}.tasks ORDER BY id`,
  );
  return Object.fromEntries(res.rows.map((r) => [r.id, r.part.split(".").pop() ?? r.part]));
}

describe("PostgreSQL history: partitions, retention and migrations", () => {
  test("rows of two months land in two monthly partitions; prune drops the old month", async () => {
    const store = await PostgresHistoryStore.open({
      connectionString: TEST_DATABASE_URL,
      schema: freshSchema("parts"),
    });
    try {
      assert.equal(store.layout(), "partitioned");
      await store.insertTask(emptyRecord(task("jan-1", "alice", "resize", JAN)));
      await store.insertTask(emptyRecord(task("jan-2", "alice", "resize", JAN + 60_000)));
      await store.insertTask(emptyRecord(task("feb-1", "alice", "resize", FEB)));
      await store.updateTask("jan-1", { status: "succeeded", finishedAt: JAN + 500, cpuSeconds: 1 });
      assert.deepEqual(await partitionOfEachTask(store), {
        "feb-1": "tasks_p202402",
        "jan-1": "tasks_p202401",
        "jan-2": "tasks_p202401",
      });
      assert.deepEqual(
        (await store.partitions()).map((p) => [p.name, p.fromMs, p.toMs]),
        [
          ["tasks_p202401", Date.UTC(2024, 0, 1), Date.UTC(2024, 1, 1)],
          ["tasks_p202402", Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1)],
        ],
      );

      // Cutoff on 3 February: January is a whole month before it, February is not. jan-2 is still
      // queued, so January stays (as SQLite keeps unfinished tasks) and only its finished row goes.
      // Rollups are cut at the exact instant: January's two minutes go, February's stays.
      const pruned = await store.prune(FEB);
      assert.deepEqual(pruned.droppedPartitions, []);
      assert.equal(pruned.deletedTaskRows, 1);
      assert.equal(pruned.tasksCutoffMs, Date.UTC(2024, 1, 1));
      assert.equal(pruned.deletedRollupRows, 2);
      assert.deepEqual(Object.keys(await partitionOfEachTask(store)).sort(), ["feb-1", "jan-2"]);
      assert.equal(await store.getTask("jan-1"), null);
      assert.equal((await store.getTask("jan-2"))?.status, "queued");
      assert.equal(await store.failUnfinished(FEB + 1, "server gone"), 2, "jan-2 and feb-1 still end");
      // Once January holds only finished tasks, the next prune drops it whole.
      const again = await store.prune(FEB);
      assert.deepEqual(again.droppedPartitions, ["tasks_p202401"]);
      assert.deepEqual(Object.keys(await partitionOfEachTask(store)), ["feb-1"]);
      assert.equal((await store.getTask("feb-1"))?.status, "failed");
      assert.deepEqual(
        (await store.rollups()).map((r) => r.minute),
        [Math.floor(FEB / 60_000)],
      );
      // The ids of pruned tasks are free again (the id directory was pruned with them).
      await store.insertTask(emptyRecord(task("jan-1", "alice", "resize", MAR)));
      assert.equal((await store.getTask("jan-1"))?.submittedAt, MAR);
      await store.insertTask(emptyRecord(task("jan-2", "alice", "resize", MAR)));
      assert.equal((await store.getTask("jan-2"))?.submittedAt, MAR);
    } finally {
      await store.close();
    }
  });

  test("rows the DEFAULT partition caught move into their month when it is created", async () => {
    const schema = freshSchema("default");
    const store = await PostgresHistoryStore.open({ connectionString: TEST_DATABASE_URL, schema });
    try {
      await store.insertTask(emptyRecord(task("a", "u", "t", JAN)));
      // Another server pruned January meanwhile; this store's cache still believes it exists.
      await store.pool.query(`DROP TABLE ${quoteIdent(schema)}.tasks_p202401`);
      await store.insertTask(emptyRecord(task("b", "u", "t", JAN + 1)));
      assert.deepEqual(await partitionOfEachTask(store), { b: "tasks_default" });
      const other = await PostgresHistoryStore.open({ connectionString: TEST_DATABASE_URL, schema });
      try {
        await other.insertTask(emptyRecord(task("c", "u", "t", JAN + 2)));
        assert.deepEqual(await partitionOfEachTask(other), { b: "tasks_p202401", c: "tasks_p202401" });
      } finally {
        await other.close();
      }
    } finally {
      await store.close();
    }
  });

  test("a schema at version 1 upgrades in place; json fields round-trip in old and new partitions", async () => {
    const schema = freshSchema("upgrade");
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      assert.equal((await migratePostgres(client, schema, "auto", 1)).version, 1);
      await ensureMonthPartition(client, schema, monthStart(JAN));
    } finally {
      await client.end();
    }
    const store = await PostgresHistoryStore.open({ connectionString: TEST_DATABASE_URL, schema });
    try {
      assert.ok(store.schemaVersion() >= 2);
      const insight = {
        typeDeclared: false,
        similarity: 0.92,
        matchedExisting: true,
        inputKind: "json",
        sizeClass: 3,
        estimate: { peakMemoryMbP95: 120.5, durationMsP95: 800, cpuSecondsP95: 0.4, samples: 17 },
        routedMemoryMb: 128,
      };
      for (const [id, at] of [
        ["old-part", JAN],
        ["new-part", FEB],
      ] as const) {
        const rec = { ...emptyRecord(task(id, "u", "t", at)), imports: ["node:fs", "lodash"], insight };
        await store.insertTask(rec);
        assert.deepEqual(await store.getTask(id), rec);
      }
      // NUL cannot be stored in PostgreSQL text; it must not make the final update fail.
      await store.updateTask("old-part", { status: "failed", error: "bad\u0000byte", output: "a\u0000b" });
      assert.equal((await store.getTask("old-part"))?.error, "bad\uFFFDbyte");
      assert.equal((await store.getTask("old-part"))?.output, "a\u0000b");
      assert.deepEqual(await partitionOfEachTask(store), {
        "new-part": "tasks_p202402",
        "old-part": "tasks_p202401",
      });
    } finally {
      await store.close();
    }
  });

  test("a session the database ends while the store uses it fails that call, not the process", async () => {
    const errors: Error[] = [];
    const schema = freshSchema("terminated");
    const store = await PostgresHistoryStore.open({
      connectionString: TEST_DATABASE_URL,
      schema,
      onBackgroundError: (err) => errors.push(err),
    });
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    try {
      await store.insertTask(emptyRecord(task("t1", "u", "t", FEB)));
      // Another session holds the row, so the store's update waits inside its transaction...
      await locker.query("BEGIN");
      await locker.query(`SELECT id FROM ${quoteIdent(schema)}.tasks WHERE id = 't1' FOR UPDATE`);
      const update = store.updateTask("t1", { status: "running", startedAt: FEB + 1 });
      const settled = update.then(
        () => "resolved",
        (err: Error) => err.message,
      );
      // ...and its session is ended (a restart, a failover, an admin): an 'error' event on a client
      // the pool had lent out, which nothing listened to.
      let waiting: number[] = [];
      for (let i = 0; i < 200 && waiting.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        const res = await locker.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`%${schema}%`],
        );
        waiting = res.rows.map((r) => r.pid);
      }
      assert.equal(waiting.length, 1, "the store's update waits for the row");
      await locker.query("SELECT pg_terminate_backend($1)", [waiting[0]]);
      assert.match(await settled, /terminat/i, "the call fails with the database's reason");
      await locker.query("ROLLBACK");
      // The process is still here, the error was reported, and the store goes on with a new session.
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(errors.length >= 1, "reported as a background error");
      await store.updateTask("t1", { status: "running", startedAt: FEB + 2 });
      assert.equal((await store.getTask("t1"))?.startedAt, FEB + 2);
    } finally {
      await locker.end();
      await store.close();
    }
  });

  test("two servers failing unfinished tasks at once (a dead one's and their own) do not deadlock", async () => {
    const schema = freshSchema("deadlock");
    const open = () => PostgresHistoryStore.open({ connectionString: TEST_DATABASE_URL, schema });
    const [a, b] = await Promise.all([open(), open()]);
    try {
      // Owner C's tasks are of series s1 then s2, B's of s2 then s1: in task order the two calls
      // would take the rollup rows of s1 and s2 in opposite orders.
      const rec = (id: string, type: string, at: number, owner: string) => ({
        ...emptyRecord(task(id, "u", type, at)),
        owner,
      });
      for (let i = 0; i < 50; i++) {
        await a!.insertTask(rec(`c${i}`, i < 25 ? "s1" : "s2", FEB + i, "C"));
        await a!.insertTask(rec(`b${i}`, i < 25 ? "s2" : "s1", FEB + i, "B"));
      }
      const now = FEB + 3_600_000;
      const results = await Promise.allSettled([
        a!.failUnfinished(now, "C died", "C"),
        b!.failUnfinished(now, "B died", "B"),
      ]);
      assert.deepEqual(
        results.map((r) => (r.status === "fulfilled" ? r.value : String(r.reason))),
        [50, 50],
      );
      assert.deepEqual(await a!.unfinishedOwners(), []);
      // Each failed task's (empty) usage was added once, to its series' minute.
      const rows = await a!.rollups({ user: "u", fromMinute: now / 60_000, toMinute: now / 60_000 });
      assert.deepEqual(
        rows.map((r) => [r.taskType, r.completed]),
        [
          ["s1", 50],
          ["s2", 50],
        ],
      );
    } finally {
      await Promise.all([a?.close(), b?.close()]);
    }
  });

  test("two stores migrating a fresh schema at once both succeed, migrations applied once", async () => {
    const schema = freshSchema("race");
    const open = () => PostgresHistoryStore.open({ connectionString: TEST_DATABASE_URL, schema });
    const stores = await Promise.all([open(), open(), open()]);
    try {
      for (const s of stores) assert.ok(s.schemaVersion() >= 1);
      const [a, b] = stores;
      assert.ok(a && b);
      const applied = await a.pool.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM ${quoteIdent(schema)}.schema_migrations`,
      );
      assert.equal(applied.rows[0]?.n, a.schemaVersion());
      // Both create the same new month concurrently: one creates it, the other finds it.
      await Promise.all([
        a.insertTask(emptyRecord(task("x", "u", "t", FEB))),
        b.insertTask(emptyRecord(task("y", "u", "t", FEB + 1))),
      ]);
      assert.deepEqual(await partitionOfEachTask(a), { x: "tasks_p202402", y: "tasks_p202402" });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { historyStoreSuite } from "./store-suite.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-sqlite-"));
const file = path.join(dir, "history.db");

historyStoreSuite(
  "SQLite file",
  async () => new SqliteHistoryStore(file),
  async () => new SqliteHistoryStore(file),
);

test("SQLite store runs in WAL mode with migrations applied once", () => {
  const f = path.join(dir, "wal.db");
  const a = new SqliteHistoryStore(f);
  assert.equal(a.db.pragma("journal_mode", { simple: true }), "wal");
  const v = a.schemaVersion();
  assert.ok(v >= 1);
  a.db.close();
  const b = new SqliteHistoryStore(f);
  assert.equal(b.schemaVersion(), v);
  const count = b.db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get() as { n: number };
  assert.equal(count.n, v);
  b.db.close();
});

test("prune deletes in batches, letting the event loop run between them, and deletes all it should", async () => {
  const store = new SqliteHistoryStore(":memory:", 100);
  try {
    const MIN = 60_000;
    const insert = store.db.prepare(
      `INSERT INTO tasks (id, user, task_type, runtime, fn, dependencies, input_bytes, priority, status, submitted_at)
       VALUES (?, 'u', 't', 'node', 'handler', '[]', 1, 5, ?, ?)`,
    );
    const rollup = store.db.prepare(
      "INSERT INTO series_minutes (user, task_type, minute, arrivals) VALUES ('u', ?, ?, 1)",
    );
    store.db.transaction(() => {
      for (let i = 0; i < 1_050; i++) insert.run(`old${i}`, i % 2 ? "succeeded" : "failed", i * MIN);
      insert.run("old-running", "running", 5 * MIN);
      insert.run("new", "succeeded", 5_000 * MIN);
      for (let m = 0; m < 730; m++) rollup.run(`t${m % 3}`, m);
      rollup.run("t0", 5_000);
    })();
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const summary = await store.prune(2_000 * MIN);
    ticking = false;
    assert.deepEqual(summary, { deletedTaskRows: 1_050, deletedRollupRows: 730 });
    assert.ok(turns >= 10, `other work ran between batches (${turns} turns)`);
    const left = store.db.prepare("SELECT id FROM tasks ORDER BY id").all() as { id: string }[];
    assert.deepEqual(
      left.map((r) => r.id),
      ["new", "old-running"],
    );
  } finally {
    await store.close();
  }
});

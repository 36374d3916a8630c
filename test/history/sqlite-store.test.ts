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

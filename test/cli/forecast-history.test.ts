import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import pg from "pg";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { emptyRecord } from "../../src/orchestrator/records.js";

const run = promisify(execFile);
const cli = path.resolve("dist/src/cli/main.js");

test("forewarm forecast --history backtests the models on a server's recorded history", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-fchist-"));
  const store = new SqliteHistoryStore(path.join(dir, "history.db"));
  // Two series over two days: a 10-minute timer and an hourly job.
  const t0 = Date.UTC(2026, 0, 5);
  let n = 0;
  for (let m = 0; m < 2 * 1440; m++) {
    for (const [user, type, period] of [
      ["alice", "tick", 10],
      ["bob", "hourly", 60],
    ] as const) {
      if (m % period !== 0) continue;
      await store.insertTask(
        emptyRecord({
          id: `t${n++}`,
          user,
          taskType: type,
          typeDeclared: true,
          runtime: "node",
          entry: "a.mjs",
          fn: "handler",
          dependencies: [],
          input: null,
          inputBytes: 4,
          priority: 5,
          timeoutMs: 1000,
          submittedAt: t0 + m * 60_000,
        }),
      );
    }
  }
  await store.close();
  const { stdout } = await run(process.execPath, [
    cli,
    "forecast",
    "--history",
    dir,
    "--models",
    "snaive,interarrival",
    "--train-fraction",
    "0.75",
    "--json",
  ]);
  const out = JSON.parse(stdout) as {
    models: { model: string; shape: string; series: number; mase: number | null }[];
  };
  const rows = JSON.stringify(out);
  assert.match(rows, /interarrival/);
  assert.match(rows, /snaive/);
  const bad = await run(process.execPath, [cli, "forecast", "--history", path.join(dir, "nope")]).catch(
    (e: { code: number; stderr: string }) => e,
  );
  assert.notEqual((bad as { code: number }).code, 0);
  assert.match((bad as { stderr: string }).stderr, /no history\.db/);
  // Trace flags beside --history would be ignored: refused, naming them.
  const mixed = await run(process.execPath, [
    cli,
    "forecast",
    "--history",
    dir,
    "--skip-bad",
    "--time-format",
    "ms",
  ]).catch((e: { code: number; stderr: string }) => e);
  assert.equal((mixed as { code: number }).code, 1, JSON.stringify(mixed));
  assert.match(
    (mixed as { stderr: string }).stderr,
    /--time-format, --skip-bad apply to a trace \(--format\), not to --history/,
  );
});

test("forecast --history with a PostgreSQL schema that holds no history says so, and creates nothing", async () => {
  const base = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
  const schema = `fw_nohist_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    for (const [name, message] of [
      [schema, `no forewarm history in schema "${schema}"`],
      ["Bad-Name", 'schema "Bad-Name" is not a forewarm schema name'],
    ] as const) {
      const r = await run(process.execPath, [cli, "forecast", "--history", `${base}?schema=${name}`]).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code: number; stderr: string }) => e,
      );
      assert.notEqual(r.code, 0, name);
      assert.ok(r.stderr.includes(message), r.stderr);
    }
    const left = await admin.query("SELECT 1 FROM pg_namespace WHERE nspname = ANY($1)", [
      [schema, "Bad-Name"],
    ]);
    assert.equal(left.rowCount, 0, "no schema was created");
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS "Bad-Name" CASCADE`);
    await admin.end();
  }
});

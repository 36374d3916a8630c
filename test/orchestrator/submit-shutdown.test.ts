import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { parseConfig } from "../../src/config/config.js";
import { VirtualClock } from "../../src/core/clock.js";
import type { Task } from "../../src/core/types.js";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { silentLogger } from "../../src/log/logger.js";
import { Orchestrator, ShuttingDownError } from "../../src/orchestrator/orchestrator.js";
import { buildTask } from "../../src/orchestrator/task-factory.js";

/**
 * An orchestrator on `store` with the real process backend in a scratch directory, and one task of
 * alice's to submit; `run` gets them and the directory is removed afterwards.
 */
async function withOrchestrator(
  store: SqliteHistoryStore,
  run: (orchestrator: Orchestrator, task: Task) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "fw-shutdown-"));
  const config = parseConfig({});
  const logger = silentLogger();
  const backend = new ProcessBackend({ workDir: path.join(dir, "envs"), logger, useCgroups: false });
  const clock = new VirtualClock(1_700_000_000_000);
  try {
    const orchestrator = new Orchestrator({
      config,
      backend,
      store,
      clock,
      logger,
      tasksDir: dir,
      codeDir: path.join(dir, "code"),
    });
    const task = buildTask(
      { user: "alice", runtime: "node", code: "export const handler = () => 1" },
      config,
      dir,
      clock.now(),
    );
    await run(orchestrator, task);
  } finally {
    await backend.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a task submitted as shutdown begins is refused or failed, never left queued", async () => {
  const store = new SqliteHistoryStore(":memory:");
  await withOrchestrator(store, async (orchestrator, task) => {
    // Not awaited: shutdown starts while the task is being prepared.
    const submitted = orchestrator.submit(task).then(
      () => "accepted",
      (err: unknown) => (err instanceof ShuttingDownError ? "refused" : String(err)),
    );
    await orchestrator.shutdown(0);
    const outcome = await submitted;
    const record = await store.getTask(task.id);
    assert.equal(orchestrator.queueLength, 0);
    if (outcome === "accepted") assert.equal(record?.status, "failed");
    else {
      // Refused: never recorded, so there is nothing to finish.
      assert.equal(outcome, "refused");
      assert.equal(record, null);
    }
  });
});

/**
 * The real SQLite store, whose inserts wait for `release` (PostgreSQL's await a partition and a
 * transaction; SQLite's finish in the call): shutdown can then begin while a record is being written.
 */
class GatedInsertStore extends SqliteHistoryStore {
  reached!: () => void;
  readonly insertReached = new Promise<void>((resolve) => {
    this.reached = resolve;
  });
  release!: () => void;
  private readonly gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  override async insertTask(record: Parameters<SqliteHistoryStore["insertTask"]>[0]): Promise<void> {
    this.reached();
    await this.gate;
    return super.insertTask(record);
  }
}

test("a task whose record is being written as shutdown begins is accepted and failed, never left queued", async () => {
  const store = new GatedInsertStore(":memory:");
  await withOrchestrator(store, async (orchestrator, task) => {
    const submitted = orchestrator.submit(task);
    await store.insertReached;
    const stopped = orchestrator.shutdown(0);
    store.release();
    await submitted;
    await stopped;
    const record = await store.getTask(task.id);
    assert.equal(record?.status, "failed");
    assert.match(record?.exitStatus ?? "", /shut/);
    assert.equal(orchestrator.queueLength, 0);
  });
});

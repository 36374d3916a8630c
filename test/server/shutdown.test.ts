import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import type { BackendEnvironment } from "../../src/backends/backend.js";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import type { EnvironmentSpec } from "../../src/core/types.js";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { silentLogger } from "../../src/log/logger.js";
import { eventually, startHarness, writeTask } from "./harness.js";

test("SIGTERM-style close: queued tasks never start while `wait=true` requests are still open; every task ends once", async () => {
  // Room for two tasks at a time; a short grace, far below the running tasks' length.
  const h = await startHarness({ capacity: { cpu: 2, memoryMb: 2048 }, shutdownGraceMs: 300 });
  writeTask(
    h.tasksDir,
    "slow.mjs",
    "export async function handler(input) { await new Promise(r => setTimeout(r, input.ms)); return 'done'; }\n",
  );
  const slow = (user: string) => ({ user, runtime: "node", entry: "slow.mjs", input: { ms: 8_000 } });
  const waiting = [h.post(slow("a"), "?wait=true"), h.post(slow("b"), "?wait=true")];
  await eventually(async () => {
    const tasks = await h.server.store.listTasks({ limit: 10 });
    return tasks.filter((t) => t.status === "running").length === 2 ? true : undefined;
  });
  const queued = await h.post(slow("c"));
  assert.equal(queued.status, 202);
  const id = String(queued.body.id);
  await h.server.close();
  // The open requests were answered with the tasks' one final state.
  for (const r of await Promise.all(waiting)) {
    assert.equal(r.body.status, "failed");
    assert.equal(r.body.exitStatus, "shutdown");
  }
  const store = new SqliteHistoryStore(path.join(h.dir, "history.db"));
  try {
    const third = await store.getTask(id);
    assert.equal(third?.status, "failed");
    assert.equal(third?.exitStatus, "shutdown");
    assert.equal(third?.startedAt, null, "the queued task never started");
    assert.match(String(third?.error), /before the task started/);
  } finally {
    await store.close();
  }
});

/** The real process backend, whose environments never finish starting (a cold start that hangs). */
class StuckProcessBackend extends ProcessBackend {
  createCalls = 0;
  override async create(_id: string, _user: string, _spec: EnvironmentSpec): Promise<BackendEnvironment> {
    this.createCalls++;
    return new Promise<BackendEnvironment>(() => {});
  }
}

// Without its fix the close never returned (the task never ended, so its request stayed open).
test("a task whose environment is still starting when the grace ends ends `shutdown`, once, and never starts", {
  timeout: 60_000,
}, async () => {
  let backend: StuckProcessBackend | undefined;
  const h = await startHarness(
    { shutdownGraceMs: 300 },
    {
      backend: (dir) => {
        backend = new StuckProcessBackend({ workDir: path.join(dir, "envs"), logger: silentLogger() });
        return backend;
      },
    },
  );
  writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
  const waiting = h.post({ user: "a", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true");
  await eventually(async () => (backend!.createCalls > 0 ? true : undefined));
  await h.server.close();
  const answered = (await waiting).body;
  assert.equal(answered.status, "failed");
  assert.equal(answered.exitStatus, "shutdown", JSON.stringify(answered));
  const store = new SqliteHistoryStore(path.join(h.dir, "history.db"));
  try {
    const record = await store.getTask(String(answered.id));
    assert.equal(record?.exitStatus, "shutdown");
    assert.match(String(record?.error), /while its environment was starting/);
    assert.equal(record?.startedAt, null, "it never ran");
  } finally {
    await store.close();
  }
});

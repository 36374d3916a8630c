import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
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

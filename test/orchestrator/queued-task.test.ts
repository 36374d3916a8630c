import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseConfig } from "../../src/config/config.js";
import { silentLogger } from "../../src/log/logger.js";
import { prepareQueuedTask } from "../../src/orchestrator/queued-task.js";
import { emptyRecord } from "../../src/orchestrator/records.js";
import { buildTask, validateSubmission } from "../../src/orchestrator/task-factory.js";
import { TaskInsight } from "../../src/orchestrator/task-insight.js";

test("a memory estimate above the whole pool is cut to the pool: the task can start, not queue forever", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-queued-"));
  const tasksDir = path.join(dir, "tasks");
  fs.mkdirSync(tasksDir);
  fs.writeFileSync(path.join(tasksDir, "heap.mjs"), "export const handler = () => 1;\n");
  const config = parseConfig({ dataDir: dir, tasksDir, capacity: { cpu: 2, memoryMb: 1024 } });
  const insight = new TaskInsight(dir, tasksDir, silentLogger());
  const make = (user: string) =>
    buildTask(
      validateSubmission({ user, runtime: "node", entry: "heap.mjs", type: "heap" }),
      config,
      tasksDir,
      1_000,
    );
  // Three of mallory's runs of this type peaked at 2,300 MB: her estimate (p95 × 1.25) is far above 1,024.
  for (let i = 0; i < 3; i++) {
    const r = emptyRecord(make("mallory"));
    Object.assign(r, { status: "succeeded", startedAt: 1_000, finishedAt: 2_000, peakMemoryMb: 2_300 });
    insight.observe(r);
  }
  const { entry } = await prepareQueuedTask(
    make("mallory"),
    config.defaults.resources,
    insight,
    null,
    config.capacity,
  );
  assert.equal(entry.spec.resources.memoryMb, 1024);
  // Below the pool, the estimate stands.
  const roomy = { cpu: 2, memoryMb: 8192 };
  const { entry: big } = await prepareQueuedTask(
    make("mallory"),
    config.defaults.resources,
    insight,
    null,
    roomy,
  );
  assert.ok(big.spec.resources.memoryMb > 2_300, `estimate ${big.spec.resources.memoryMb}`);
  // Another user's task of the same type name is not sized by mallory's runs.
  const { entry: other } = await prepareQueuedTask(
    make("alice"),
    config.defaults.resources,
    insight,
    null,
    roomy,
  );
  assert.equal(other.spec.resources.memoryMb, config.defaults.resources.memoryMb);
});

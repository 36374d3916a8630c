import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, startHarness, writeTask } from "../server/harness.js";
import { startPrometheus } from "./prometheus-harness.js";

test("a real Prometheus scrapes the running server's /metrics and reads the task counters back", async () => {
  const h = await startHarness();
  // Without a Prometheus binary the test fails; the server must not keep the run alive behind it.
  const prometheus = await startPrometheus([new URL(h.server.url).host]).catch(async (err: unknown) => {
    await h.server.close();
    throw err;
  });
  try {
    writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    for (let i = 0; i < 3; i++) {
      const r = await h.post({ user: "p", runtime: "node", entry: "e.mjs", input: i }, "?wait=true");
      assert.equal(r.body.status, "succeeded");
    }
    const scraped = await eventually(
      async () => {
        const [cold] = await prometheus.query("forewarm_cold_starts_total");
        const [warm] = await prometheus.query("forewarm_warm_starts_total");
        return cold && warm && cold.value === 1 && warm.value === 2 ? { cold, warm } : undefined;
      },
      300,
      100,
    );
    assert.equal(scraped.cold.value, h.server.orchestrator.counters.coldStarts);
    assert.equal(scraped.warm.value, h.server.orchestrator.counters.warmStarts);
    const [leader] = await prometheus.query("forewarm_leader");
    assert.equal(leader?.value, 1, "the embedded server leads itself");
    const [ok] = await prometheus.query('forewarm_tasks_total{status="succeeded"}');
    assert.equal(ok?.value, 3);
  } finally {
    await prometheus.stop();
    await h.server.close();
  }
});

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { ForewarmMetrics } from "../../src/cluster/metrics.js";
import { type PromSample, startPrometheus } from "./prometheus-harness.js";

const DEADLINE_MS = 60_000;

async function pollUntil(what: string, read: () => Promise<PromSample[]>): Promise<PromSample[]> {
  const stopAt = Date.now() + DEADLINE_MS;
  for (;;) {
    const samples = await read();
    if (samples.length > 0) return samples;
    if (Date.now() > stopAt) throw new Error(`Prometheus never returned ${what} within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("a real Prometheus scrapes ForewarmMetrics and returns the recorded values", async () => {
  const metrics = new ForewarmMetrics();
  metrics.taskStarted(true, 900);
  metrics.taskStarted(true, 1200);
  metrics.taskStarted(true, 30);
  metrics.taskStarted(false, 3);
  metrics.setLeader(true);
  metrics.setPool({ environments: { ready: 2, busy: 1 }, queueLength: 0, capacityUsed: { memory: 0.4 } });

  const server = http.createServer(async (req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": metrics.contentType }).end(await metrics.render());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  // Checked first so that a missing binary fails with the install hint and nothing left running.
  const prometheus = await startPrometheus([`127.0.0.1:${port}`]).catch(async (err: Error) => {
    await new Promise((r) => server.close(r));
    throw err;
  });
  try {
    const [cold] = await pollUntil("forewarm_cold_starts_total", () =>
      prometheus.query("forewarm_cold_starts_total"),
    );
    assert.equal(cold?.value, 3);
    assert.equal(cold?.metric.job, "forewarm");
    assert.equal(cold?.metric.instance, `127.0.0.1:${port}`);
    const [warm] = await prometheus.query("forewarm_warm_starts_total");
    assert.equal(warm?.value, 1);
    const [leader] = await prometheus.query("sum(forewarm_leader)");
    assert.equal(leader?.value, 1);
    const [ready] = await prometheus.query('forewarm_environments{state="ready"}');
    assert.equal(ready?.value, 2);
    const [under1s] = await prometheus.query('forewarm_start_latency_seconds_bucket{le="1"}');
    assert.equal(under1s?.value, 3);
    const [up] = await prometheus.query("up");
    assert.equal(up?.value, 1);
  } finally {
    await prometheus.stop();
    await new Promise((r) => server.close(r));
  }
});

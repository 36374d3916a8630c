import assert from "node:assert/strict";
import { test } from "node:test";
import { ForewarmMetrics } from "../../src/cluster/metrics.js";
import { parseConfig } from "../../src/config/config.js";
import { RealClock } from "../../src/core/clock.js";
import type { HistoryStore } from "../../src/history/store.js";
import { silentLogger } from "../../src/log/logger.js";
import { ClusterRole } from "../../src/server/cluster-role.js";

/** Sample lines of the text exposition format as "name{labels}" → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `unparseable exposition line: ${line}`);
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

test("metrics record each event and render in the Prometheus text format", async () => {
  const m = new ForewarmMetrics();
  m.taskStarted(true, 1500);
  m.taskStarted(false, 2);
  m.taskStarted(false, 4);
  m.taskFinished("succeeded");
  m.taskFinished("succeeded");
  m.taskFinished("failed");
  m.reclaimed("idle", 2);
  m.wastedMemory(256 * 30);
  m.setPool({
    environments: { ready: 3, busy: 1 },
    queueLength: 4,
    capacityUsed: { memory: 0.5, cpu: 0.25 },
  });
  m.setPool({ environments: { ready: 2 }, queueLength: 1, capacityUsed: { memory: 0.75 } });
  m.plannerCycle(0.02);
  m.retrained(12.5, 40);
  m.setLeader(true);
  m.forecastError(0.8);
  m.windowDecided(0, 5, 1);
  m.windowDecided(3, 2, 1);
  m.windowDecided(0, 0, 2.5);

  assert.match(m.contentType, /^text\/plain/);
  const s = samples(await m.render());
  assert.equal(s.get("forewarm_cold_starts_total"), 1);
  assert.equal(s.get("forewarm_warm_starts_total"), 2);
  assert.equal(s.get('forewarm_tasks_total{status="succeeded"}'), 2);
  assert.equal(s.get('forewarm_tasks_total{status="failed"}'), 1);
  assert.equal(s.get('forewarm_reclaims_total{reason="idle"}'), 2);
  assert.equal(s.get("forewarm_wasted_memory_mb_seconds_total"), 7680);
  // Latencies 1.5 s, 2 ms, 4 ms: two at or under 5 ms, all three under 2.5 s.
  assert.equal(s.get('forewarm_start_latency_seconds_bucket{le="0.001"}'), 0);
  assert.equal(s.get('forewarm_start_latency_seconds_bucket{le="0.005"}'), 2);
  assert.equal(s.get('forewarm_start_latency_seconds_bucket{le="2.5"}'), 3);
  assert.equal(s.get('forewarm_start_latency_seconds_bucket{le="30"}'), 3);
  assert.equal(s.get("forewarm_start_latency_seconds_count"), 3);
  assert.ok(Math.abs((s.get("forewarm_start_latency_seconds_sum") ?? 0) - 1.506) < 1e-9);
  // A state that emptied reads 0 instead of keeping its last count.
  assert.equal(s.get('forewarm_environments{state="ready"}'), 2);
  assert.equal(s.get('forewarm_environments{state="busy"}'), 0);
  assert.equal(s.get('forewarm_environments{state="creating"}'), 0);
  assert.equal(s.get("forewarm_queue_length"), 1);
  assert.equal(s.get('forewarm_capacity_used_ratio{resource="memory"}'), 0.75);
  assert.equal(s.get("forewarm_planner_cycle_seconds_count"), 1);
  assert.equal(s.get("forewarm_retrain_duration_seconds_count"), 1);
  assert.equal(s.get("forewarm_retrain_series"), 40);
  assert.equal(s.get("forewarm_leader"), 1);
  assert.equal(s.get("forewarm_forecast_error"), 0.8);
  assert.equal(s.get('forewarm_window_decisions_total{kind="keep"}'), 1);
  assert.equal(s.get('forewarm_window_decisions_total{kind="prewarm"}'), 1);
  assert.equal(s.get('forewarm_window_decisions_total{kind="unload"}'), 1);
  assert.equal(s.get("forewarm_window_price"), 2.5);
  assert.ok(s.has("forewarm_process_cpu_seconds_total"), "default process metrics carry the prefix");
});

test("each ForewarmMetrics has its own registry (two instances do not collide)", async () => {
  const a = new ForewarmMetrics({ defaultMetrics: false });
  const b = new ForewarmMetrics({ defaultMetrics: false });
  a.taskStarted(true, 10);
  assert.equal(samples(await a.render()).get("forewarm_cold_starts_total"), 1);
  assert.equal(samples(await b.render()).get("forewarm_cold_starts_total"), 0);
  assert.equal(samples(await b.render()).get("forewarm_leader"), 0);
  assert.ok(!samples(await b.render()).has("forewarm_process_cpu_seconds_total"));
});

test("a stopped server no longer reports itself leader; started again, it leads again", async () => {
  const metrics = new ForewarmMetrics({ defaultMetrics: false });
  // Embedded: the server leads alone. Its leader duties only prune (nothing to prune here).
  const store = { prune: async () => ({}) } as unknown as HistoryStore;
  const role = new ClusterRole(
    parseConfig({}),
    store,
    null,
    null,
    metrics,
    new RealClock(),
    silentLogger(),
    "s",
  );
  const leader = async () => samples(await metrics.render()).get("forewarm_leader");
  await role.start();
  assert.equal(role.isLeader, true);
  assert.equal(await leader(), 1);
  await role.stop();
  assert.equal(role.isLeader, false);
  assert.equal(await leader(), 0, "a stopped server does not count in sum(forewarm_leader)");
  await role.start();
  assert.equal(await leader(), 1);
  await role.stop();
});

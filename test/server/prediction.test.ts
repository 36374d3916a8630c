import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eventually, type Harness, sleep, startHarness, writeTask } from "./harness.js";

type Rec = Record<string, unknown>;

/**
 * Time runs 150× faster: one scaled minute is 400 ms of wall time. (At 300× a loaded CI machine's
 * 1 s cold start is 5 scaled minutes, the whole period of the timer.)
 */
const SCALE = 150;
const MINUTE_REAL = 60_000 / SCALE;
const PERIOD_MIN = 5;

function config(enabled: boolean, windowPolicy: "threshold" | "cost" = "threshold") {
  return {
    timeScale: SCALE,
    keepAliveMs: 60_000,
    reclaimIntervalMs: 20,
    prediction: {
      enabled,
      // The issue's own model for clockwork series; `auto` is exercised by the forecasting tests.
      model: "interarrival",
      windowPolicy,
      retrainIntervalMs: 400,
      planIntervalMs: 20,
      horizonMinutes: 30,
      windowMinutes: 600,
      quietMinutes: 30,
      graceMs: 60_000,
    },
  };
}

/** Seeded jitter so every run submits the same schedule. */
function jitters(n: number): number[] {
  let s = 42;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31) * 2 - 1;
  });
}

/**
 * One user submits the same task type every 5 scaled minutes ± 40 s. Returns the records of the
 * arrivals after the training period.
 */
async function runSchedule(h: Harness, training: number, measured: number): Promise<Rec[]> {
  writeTask(h.tasksDir, "tick.mjs", "export const handler = (x) => ({ ok: x.i });\n");
  const js = jitters(training + measured);
  const t0 = Date.now();
  const pending: Promise<Rec>[] = [];
  // Arrivals follow the schedule in (scaled) time, whatever the tasks' own latency.
  for (let i = 0; i < training + measured; i++) {
    const at = t0 + (i * PERIOD_MIN + (js[i]! * 40) / 60) * MINUTE_REAL;
    await sleep(Math.max(0, at - Date.now()));
    const body = { user: "timer", type: "tick", runtime: "node", entry: "tick.mjs", input: { i } };
    pending.push(h.post(body, "?wait=true").then((r) => r.body as Rec));
  }
  const records = await Promise.all(pending);
  for (const r of records) assert.equal(r.status, "succeeded", JSON.stringify(r));
  return records.slice(training);
}

describe("prediction loop in accelerated time (real workers, real HTTP)", () => {
  test("with prediction, ≥ 90% of arrivals after training land on an environment prepared before they arrived; without, they start cold", async () => {
    const on = await startHarness(config(true));
    let predicted: Rec[];
    try {
      predicted = await runSchedule(on, 10, 12);
      const warm = predicted.filter((r) => r.cold === false).length;
      assert.ok(
        warm / predicted.length >= 0.9,
        `only ${warm}/${predicted.length} arrivals were warm with prediction`,
      );
      const plan = (await on.get("/v1/plan")).body as Rec;
      const counters = plan.counters as { shadowHits: number; reclaimsByReason: Record<string, number> };
      // The plan acted: shadows served arrivals, or it held environments it later let go.
      assert.ok(
        counters.shadowHits > 0 || (counters.reclaimsByReason["no longer wanted by the plan"] ?? 0) > 0,
        `the plan prepared environments: ${JSON.stringify(counters)}`,
      );

      // The series stops: its shadows are reclaimed once the prediction window has passed.
      const stoppedAt = Date.now();
      await eventually(async () => {
        const envs = (await on.get("/v1/environments")).body.environments as Rec[];
        return envs.some((e) => e.shadow === true) ? undefined : true;
      }, 400);
      const waitedMin = (Date.now() - stoppedAt) / MINUTE_REAL;
      assert.ok(waitedMin < 30, `shadows outlived the quiet window (${waitedMin.toFixed(1)} scaled min)`);
      const reasons = (((await on.get("/v1/plan")).body as Rec).counters as Rec).reclaimsByReason as Rec;
      assert.ok(
        Object.keys(reasons).some((k) => /window|likely|quiet|wanted/.test(k)),
        `reclaim reasons recorded: ${JSON.stringify(reasons)}`,
      );
    } finally {
      await on.server.close();
    }

    const off = await startHarness(config(false));
    try {
      const reactive = await runSchedule(off, 10, 12);
      const cold = reactive.filter((r) => r.cold === true).length;
      assert.ok(
        cold / reactive.length >= 0.9,
        `only ${cold}/${reactive.length} arrivals were cold without prediction`,
      );
    } finally {
      await off.server.close();
    }
  });

  test("the expected-cost window policy (the one replay scores) also serves ≥ 90% of arrivals warm", async () => {
    const h = await startHarness(config(true, "cost"));
    try {
      const records = await runSchedule(h, 10, 12);
      const warm = records.filter((r) => r.cold === false).length;
      assert.ok(warm / records.length >= 0.9, `only ${warm}/${records.length} arrivals were warm`);
    } finally {
      await h.server.close();
    }
  });
});

test("a server that stops retraining (leadership lost) drops its models: frozen ones would size shadows for good", async () => {
  const h = await startHarness({
    ...config(true),
    prediction: { ...config(true).prediction, retrainIntervalMs: 200 },
  });
  try {
    writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    const r = (
      await h.post({ user: "m", type: "e", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true")
    ).body as Rec;
    assert.equal(r.status, "succeeded");
    const forecasts = async () => (await h.get("/v1/forecasts")).body.forecasts as Rec[];
    await eventually(async () => ((await forecasts()).length > 0 ? true : undefined));
    h.server.prediction!.setRetraining(false);
    assert.deepEqual(await forecasts(), []);
    assert.equal((await h.get("/v1/plan")).body.lastRetrain, null);
    // Still none a few retrain intervals later (a retrain in flight when it stopped is discarded).
    await sleep(600);
    assert.deepEqual(await forecasts(), []);
  } finally {
    await h.server.close();
  }
});

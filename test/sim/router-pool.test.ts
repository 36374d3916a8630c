import assert from "node:assert/strict";
import { test } from "node:test";
import { SimulatedPool } from "../../src/sim/env-pool.js";
import { runM2 } from "../../src/sim/m2.js";
import { RouterPool } from "../../src/sim/router-pool.js";
import { cutEventTrace } from "../../src/sim/trace.js";
import { loadOnce } from "./traces.js";

/**
 * M2 through the live router (RouterPool: routeTask + expiredEnvironments) must score exactly as the
 * self-contained simulated pool: same cold starts, environments, waste and peak memory.
 */
test("M2 through the live router equals the simulated pool on azure2021 for every keep-alive and L", async () => {
  const events = (await loadOnce("azure2021")).events!;
  for (const kaMin of [0, 1, 10, 60]) {
    for (const L of [0, 1]) {
      const viaRouter = runM2(events, "router", new RouterPool(events.appMemoryMb, () => kaMin * 60), {
        coldStartSeconds: L,
      });
      const simulated = runM2(events, "sim", new SimulatedPool(events.appMemoryMb, () => kaMin * 60), {
        coldStartSeconds: L,
      });
      assert.deepEqual({ ...viaRouter, name: "" }, { ...simulated, name: "" }, `ka=${kaMin} L=${L}`);
    }
  }
  const ref = runM2(events, "ka10", new RouterPool(events.appMemoryMb, () => 600));
  assert.deepEqual(
    [ref.coldStarts, ref.environmentsCreated, ref.wastedMbS.toFixed(3)],
    [44, 44, "34936.560"],
  );
});

test("M2 through the live router equals the simulated pool on the first 90 minutes of azure2019", async () => {
  const events = cutEventTrace((await loadOnce("azure2019-events")).events!, 569);
  for (const kaMin of [1, 10]) {
    const a = runM2(events, "x", new RouterPool(events.appMemoryMb, () => kaMin * 60));
    const b = runM2(events, "x", new SimulatedPool(events.appMemoryMb, () => kaMin * 60));
    assert.equal(a.coldStarts, b.coldStarts);
    assert.equal(a.environmentsCreated, b.environmentsCreated);
    assert.ok(Math.abs(a.wastedMbS - b.wastedMbS) < 1e-6 * Math.max(1, b.wastedMbS));
  }
});

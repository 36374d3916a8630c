import assert from "node:assert/strict";
import { test } from "node:test";
import { runM2 } from "../../src/sim/m2.js";
import { runM2Planned } from "../../src/sim/m2-planned.js";
import { RouterPool } from "../../src/sim/router-pool.js";
import { replayLoaded, resolveSpecs } from "../../src/sim/run.js";
import type { EventTrace } from "../../src/sim/trace.js";
import { loadOnce } from "./traces.js";

/** One app, a task of 1 s every 5 minutes ± 20 s (seeded), memory 100 MB. */
function timerTrace(n: number): EventTrace {
  let s = 3;
  const start = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    start[i] = 600 + i * 300 + ((s / 2 ** 31) * 40 - 20);
  }
  return {
    appNames: ["timer"],
    appMemoryMb: Float64Array.from([100]),
    app: new Int32Array(n),
    start,
    duration: new Float64Array(n).fill(1),
  };
}

test("M2 with the live prediction loop: a timer is pre-warmed — fewer cold starts than 1-minute keep-alive, far less waste than no unloading", () => {
  const trace = timerTrace(40);
  const L = 10;
  // Unheld environments expire after 1 minute, so every warm start is the plan's doing.
  const planned = runM2Planned(trace, "forewarm", { coldStartSeconds: L, keepAliveSeconds: 60 });
  const short = runM2(trace, "ka1", new RouterPool(trace.appMemoryMb, () => 60), { coldStartSeconds: L });
  const forever = runM2(
    trace,
    "no-unload",
    new RouterPool(trace.appMemoryMb, () => Number.POSITIVE_INFINITY),
    {
      coldStartSeconds: L,
    },
  );
  assert.equal(short.coldStarts, 40, "a 1-minute keep-alive never bridges a 5-minute gap");
  assert.ok(planned.coldStarts <= 8, `forewarm had ${planned.coldStarts} cold starts`);
  assert.ok(planned.wastedMbS < forever.wastedMbS / 2, `${planned.wastedMbS} vs ${forever.wastedMbS} MB·s`);
  assert.equal(planned.invocations, 40);
});

test("M2 with the live prediction loop is deterministic on azure2021", async () => {
  const events = (await loadOnce("azure2021")).events!;
  const a = runM2Planned(events, "x", { coldStartSeconds: 1 });
  const b = runM2Planned(events, "x", { coldStartSeconds: 1 });
  assert.deepEqual(a, b);
  assert.equal(a.invocations, 199);
  assert.ok(a.coldStarts >= 42, "never below the one-per-app floor of no unloading");
});

test("M2 with the live forewarm window path: the timer is pre-warmed after a few gaps, and a higher price holds less", () => {
  const trace = timerTrace(40);
  const run = (price: number) =>
    runM2Planned(trace, `forewarm:price=${price}`, {
      coldStartSeconds: 10,
      keepAliveSeconds: 60,
      planner: { graceMs: 0 },
      windows: { price, memRefMb: 100 },
    });
  const cheap = run(1);
  const dear = run(200);
  for (const r of [cheap, dear]) {
    assert.equal(r.invocations, 40);
    assert.ok(r.coldStarts <= 10, `${r.name}: ${r.coldStarts} cold starts of 40 (1-minute keep-alive: 40)`);
  }
  // Dear memory: windows shrink to the minutes around the next tick (pre-warm), so less idle time.
  assert.ok(dear.wastedMbS < cheap.wastedMbS * 0.75, `${dear.wastedMbS} vs ${cheap.wastedMbS} MB·s`);
  assert.ok(dear.environmentsCreated > cheap.environmentsCreated, "pre-warming creates environments");
});

test("M2 forewarm with a 10-s cold start holds a busy app's running concurrency, not its cold-start cascade", () => {
  // One app, a 0.6-s task every 0.25 s ± 0.05 s (seeded) for 30 minutes: about 3 run at once. While
  // the first cold start takes 10 s, every arrival starts another: ~40 environments, 37 not needed.
  let s = 7;
  const n = 30 * 240;
  const start = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    start[i] = 600 + i * 0.25 + ((s / 2 ** 31) * 0.1 - 0.05);
  }
  const trace: EventTrace = {
    appNames: ["busy"],
    appMemoryMb: Float64Array.from([100]),
    app: new Int32Array(n),
    start,
    duration: new Float64Array(n).fill(0.6),
  };
  const L = 10;
  const fixed10 = runM2(trace, "ka10", new RouterPool(trace.appMemoryMb, () => 600), { coldStartSeconds: L });
  const forewarm = runM2Planned(trace, "forewarm", {
    coldStartSeconds: L,
    keepAliveSeconds: 60,
    planner: { graceMs: 0, maxPerSeries: 1000 },
    windows: { price: 1, memRefMb: 100 },
  });
  assert.ok(fixed10.coldStarts >= 30, `the cascade: ${fixed10.coldStarts} cold starts`);
  assert.ok(
    forewarm.coldStarts <= fixed10.coldStarts + 2,
    `forewarm ${forewarm.coldStarts} vs fixed 10 ${fixed10.coldStarts} cold starts`,
  );
  // Fixed 10 keeps the cascade's idle environments 10 minutes; forewarm drops them after its 1-minute floor.
  assert.ok(
    forewarm.wastedMbS < fixed10.wastedMbS / 3,
    `forewarm ${forewarm.wastedMbS} vs fixed 10 ${fixed10.wastedMbS} MB·s`,
  );
});

test("M2 forewarm reports progress every 65,536 arrivals", () => {
  const n = 65_536 + 100;
  const trace: EventTrace = {
    appNames: ["steady"],
    appMemoryMb: Float64Array.from([100]),
    app: new Int32Array(n),
    start: Float64Array.from({ length: n }, (_, i) => i * 0.1),
    duration: new Float64Array(n).fill(0.05),
  };
  const calls: [number, number][] = [];
  runM2Planned(trace, "forewarm", {
    windows: { price: 1, memRefMb: 100 },
    onProgress: (done, total) => calls.push([done, total]),
  });
  assert.deepEqual(calls, [[65_536, n]]);
});

test("replay's `forecast` policy is the live forecast planner in M2 — and M2 only", async () => {
  assert.throws(() => resolveSpecs({ policies: "fixed:ka=10,forecast", model: "m1" }), /runs in M2 only/);
  assert.throws(
    () => resolveSpecs({ policies: "forecast:bogus=1", model: "m2" }),
    /unknown parameter 'bogus'/,
  );
  const loaded = await loadOnce("azure2021");
  const { m2 } = replayLoaded(loaded, {
    policies: "fixed:ka=1,forecast:ka=1,forecast:cost=1,ka=1",
    model: "m2",
  });
  const [fixed, threshold, cost] = m2!;
  // With a 1-minute floor for environments no plan holds, every extra warm start is the planner's.
  assert.equal(fixed!.coldStarts, 108);
  assert.ok(threshold!.coldStarts < fixed!.coldStarts, `threshold windows: ${threshold!.coldStarts} cold`);
  assert.ok(cost!.coldStarts < fixed!.coldStarts, `cost windows: ${cost!.coldStarts} cold`);
  assert.throws(() => resolveSpecs({ policies: "forecast:cost=2", model: "m2" }), /cost must be 0 .* or 1/);
  // The parameters reach the planner: `cost` picks the window policy, `ka` the reactive keep-alive.
  const direct = runM2Planned(loaded.events!, "forecast:ka=1", {
    keepAliveSeconds: 60,
    planner: { graceMs: 0, maxPerSeries: Number.MAX_SAFE_INTEGER, windowPolicy: "threshold" },
  });
  assert.deepEqual(threshold, direct);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { specKey } from "../../src/core/types.js";
import type { Forecast } from "../../src/forecast/forecaster.js";
import { reconcile } from "../../src/plan/reconcile.js";
import {
  PLANNER_DEFAULTS,
  planShadows,
  type SeriesTemplate,
  seriesKey,
} from "../../src/plan/shadow-planner.js";
import type { EnvironmentView } from "../../src/pool/environment.js";
import { env, MIN, pool, spec } from "./pool-fixtures.js";

/** A forecast whose arrival probability is `p` in minutes [from, to) of a 30-minute horizon. */
function forecast(
  user: string,
  p: number,
  from: number,
  to: number,
  confidence = 0.9,
  fromMinute = 100,
): Forecast {
  return {
    user,
    taskType: "t",
    model: "test",
    level: 0.8,
    fromMinute,
    confidence,
    resources: null,
    minutes: Array.from({ length: 30 }, (_, i) => {
      const pAny = i >= from && i < to ? p : 0;
      return {
        minute: fromMinute + i,
        pAny,
        arrivals: { expected: pAny, lower: 0, upper: pAny > 0.1 ? 1 : 0 },
        concurrency: { expected: pAny, lower: 0, upper: pAny > 0.1 ? 1 : 0 },
      };
    }),
  };
}

const templates = (users: string[], memoryMb = 256) =>
  new Map<string, SeriesTemplate>(
    users.map((u) => [seriesKey(u, "t"), { user: u, taskType: "t", spec: spec(memoryMb) }]),
  );

const leads = new Map([[specKey(spec()), 20_000]]);

test("a confident forecast yields a shadow from (window start − lead) until (window end + grace)", () => {
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [forecast("a", 0.9, 0, 3)],
    templates: templates(["a"]),
    leadMs: leads,
    pool: pool([]),
    config: PLANNER_DEFAULTS,
  });
  assert.equal(plan.desired.length, 1);
  const d = plan.desired[0]!;
  assert.equal(d.from, 100 * MIN - 20_000 * PLANNER_DEFAULTS.leadFactor);
  assert.equal(d.until, 103 * MIN + PLANNER_DEFAULTS.graceMs);
  assert.match(d.reason, /P\(arrival/);
});

test("the confidence threshold gates creation; a window that opens later is not yet wanted", () => {
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [forecast("low", 0.9, 0, 3, 0.2), forecast("later", 0.9, 20, 23)],
    templates: templates(["low", "later"]),
    leadMs: leads,
    pool: pool([]),
    config: PLANNER_DEFAULTS,
  });
  assert.equal(plan.desired.length, 0);
  assert.match(plan.skipped.find((s) => s.series.startsWith("low|"))!.reason, /confidence 0.20 ≤ threshold/);
  assert.match(plan.skipped.find((s) => s.series.startsWith("later|"))!.reason, /not yet/);
});

test("a forecast with NaN or negative values is skipped with the reason, the others still planned", () => {
  const nan = forecast("nan", 0.9, 0, 3);
  nan.minutes[1]!.pAny = Number.NaN;
  const neg = forecast("neg", 0.9, 0, 3);
  neg.minutes[0]!.arrivals.expected = -1;
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [nan, neg, forecast("ok", 0.9, 0, 3)],
    templates: templates(["nan", "neg", "ok"]),
    leadMs: leads,
    pool: pool([]),
    config: PLANNER_DEFAULTS,
  });
  assert.deepEqual(
    plan.desired.map((d) => d.user),
    ["ok"],
  );
  assert.equal(plan.skipped.filter((s) => /forecast invalid/.test(s.reason)).length, 2);
});

test("capacity is shared by expected benefit; busy environments keep theirs", () => {
  // Room for two 256 MiB shadows beside a busy 512 MiB environment (80% of 1280 = 1024).
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [forecast("likely", 0.95, 0, 2), forecast("maybe", 0.3, 0, 2), forecast("surely", 1, 0, 2)],
    templates: templates(["likely", "maybe", "surely"]),
    leadMs: leads,
    pool: pool([env("busy", "x", "busy", 512)], 1280),
    config: PLANNER_DEFAULTS,
  });
  assert.deepEqual(plan.desired.map((d) => d.user).sort(), ["likely", "surely"]);
  assert.match(plan.skipped.find((s) => s.series.startsWith("maybe|"))!.reason, /capacity/);
});

test("reconcile holds an idle matching environment, creates the rest, releases what is no longer wanted", () => {
  const held: EnvironmentView = {
    ...env("old-shadow", "gone", "ready"),
    shadow: true,
    hold: { series: seriesKey("gone", "t"), since: 0, until: 99 * MIN, benefit: 1, reason: "x" },
  };
  const p = pool([env("idle-a", "a", "ready"), env("busy-b", "b", "busy"), held]);
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [forecast("a", 0.9, 0, 3), forecast("b", 0.9, 0, 3)],
    templates: templates(["a", "b"]),
    leadMs: leads,
    pool: p,
    config: PLANNER_DEFAULTS,
  });
  const actions = reconcile(plan, p);
  assert.deepEqual(
    actions.hold.map((h) => h.environmentId),
    ["idle-a"],
  );
  assert.deepEqual(
    actions.create.map((c) => c.user),
    ["b"],
    "a busy environment never counts as a shadow",
  );
  assert.deepEqual(actions.release, [
    { environmentId: "old-shadow", shadow: true, reason: "prediction window passed" },
  ]);
});

test("cost window policy: the window of the expected-cost policy replay uses, priced by memory", () => {
  // Arrival certain in minute 5 of the horizon (offset 4): a cheap price holds exactly that minute.
  const f = forecast("a", 0, 0, 0);
  f.minutes[4]!.pAny = 1;
  f.minutes[4]!.concurrency.upper = 1;
  const cheap = { ...PLANNER_DEFAULTS, windowPolicy: "cost" as const, pricePerGbMinute: 0.01 };
  const plan = planShadows({
    now: 104 * MIN - 1000,
    forecasts: [f],
    templates: templates(["a"]),
    leadMs: leads,
    pool: pool([]),
    config: cheap,
  });
  assert.equal(plan.desired.length, 1);
  assert.equal(plan.desired[0]!.from, 104 * MIN - 20_000 * PLANNER_DEFAULTS.leadFactor);
  assert.equal(plan.desired[0]!.until, 105 * MIN + PLANNER_DEFAULTS.graceMs);
  // A flat, unlikely arrival is not worth holding memory for at a high price: unload.
  const flat = forecast("a", 0.02, 0, 30);
  const dear = { ...cheap, pricePerGbMinute: 10 };
  const none = planShadows({
    now: 100 * MIN,
    forecasts: [flat],
    templates: templates(["a"]),
    leadMs: leads,
    pool: pool([]),
    config: dear,
  });
  assert.equal(none.desired.length, 0);
  assert.match(none.skipped[0]!.reason, /unload/);
});

test("a shadow is sized from the forecast's upper bound of per-task peak memory, never below the spec", () => {
  const f = forecast("a", 0.9, 0, 3);
  const iv = (upper: number) => ({ expected: upper / 2, lower: 0, upper });
  f.resources = {
    cpuSeconds: iv(1),
    peakMemoryMb: iv(300),
    storageBytes: iv(0),
    networkBytes: iv(0),
    durationMs: iv(10),
  };
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [f],
    templates: templates(["a"]),
    leadMs: leads,
    pool: pool([]),
    config: PLANNER_DEFAULTS,
  });
  assert.equal(plan.desired[0]!.spec.resources.memoryMb, 384, "300 MiB × 1.25 rounded up to 64 MiB");
  f.resources.peakMemoryMb = iv(40);
  const small = planShadows({
    now: 100 * MIN,
    forecasts: [f],
    templates: templates(["a"]),
    leadMs: leads,
    pool: pool([]),
    config: PLANNER_DEFAULTS,
  });
  assert.equal(small.desired[0]!.spec.resources.memoryMb, 256);
});

test("reconcile resizes an idle environment of the same code whose size no longer matches the forecast", () => {
  const p = pool([env("small-a", "a", "ready", 256)]);
  const f = forecast("a", 0.9, 0, 3);
  const iv = (upper: number) => ({ expected: upper / 2, lower: 0, upper });
  f.resources = {
    cpuSeconds: iv(1),
    peakMemoryMb: iv(400),
    storageBytes: iv(0),
    networkBytes: iv(0),
    durationMs: iv(10),
  };
  const plan = planShadows({
    now: 100 * MIN,
    forecasts: [f],
    templates: templates(["a"]),
    leadMs: leads,
    pool: p,
    config: PLANNER_DEFAULTS,
  });
  const actions = reconcile(plan, p);
  assert.deepEqual(
    actions.resize.map((r) => [r.environmentId, r.desired.spec.resources.memoryMb]),
    [["small-a", 512]],
  );
  assert.equal(actions.create.length, 0);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { specKey } from "../../src/core/types.js";
import { reconcile } from "../../src/plan/reconcile.js";
import type { SeriesWindow } from "../../src/plan/series-windows.js";
import { PLANNER_DEFAULTS, type SeriesTemplate } from "../../src/plan/shadow-planner.js";
import { planFromWindows, staffed } from "../../src/plan/window-planner.js";
import type { EnvironmentView, PoolSnapshot } from "../../src/pool/environment.js";
import { env, MIN, pool, spec as specOf } from "./pool-fixtures.js";

const spec = specOf();
const templates = new Map<string, SeriesTemplate>(
  ["a", "b", "c"].map((u) => [`${u}|t`, { user: u, taskType: "t", spec }]),
);
const leads = new Map([[specKey(spec), 20_000]]);
const config = { ...PLANNER_DEFAULTS, windowPolicy: "forewarm" as const, graceMs: 5_000 };

function window(user: string, minute: number, pw: number, ka: number): SeriesWindow {
  const from = (minute + pw + 1) * MIN;
  return {
    series: `${user}|t`,
    user,
    minute,
    pw,
    ka,
    from,
    until: from + ka * MIN,
    environments: 1,
    pMiss: 0.1,
    reason: "test",
  };
}

/** `busyNow`: series busy this minute, with how many tasks ran at once so far (1 when just named). */
const plan = (
  now: number,
  windows: SeriesWindow[],
  busyNow: (string | [string, number])[] = [],
  envs: EnvironmentView[] = [],
) =>
  planFromWindows({
    now,
    windows,
    busyNow: new Map(busyNow.map((s) => (typeof s === "string" ? [s, 1] : s))),
    templates,
    forecasts: new Map(),
    leadMs: leads,
    pool: pool(envs),
    config,
  });

test("a window (t+pw, t+pw+ka] becomes a shadow from its start − lead × factor until its end + grace", () => {
  // After busy minute 100: load minutes 104..105, i.e. [104:00, 106:00).
  const w = window("a", 100, 3, 2);
  const early = plan(103 * MIN, [w]);
  assert.equal(early.desired.length, 0);
  assert.match(early.skipped[0]!.reason, /not yet/);
  const due = plan(104 * MIN - 20_000 * 1.5, [w]);
  assert.equal(due.desired.length, 1);
  assert.equal(due.desired[0]!.from, 104 * MIN - 30_000);
  assert.equal(due.desired[0]!.until, 106 * MIN + 5_000);
  assert.equal(due.desired[0]!.pHit, 0.9);
  assert.equal(plan(106 * MIN + 6_000, [w]).desired.length, 0, "over once the window and grace have passed");
});

test("ka = 0 unloads: no shadow, the decision's reason is the skip reason", () => {
  const p = plan(101 * MIN, [{ ...window("a", 100, 0, 0), reason: "unload: too dear" }]);
  assert.equal(p.desired.length, 0);
  assert.deepEqual(p.skipped, [{ series: "a|t", reason: "unload: too dear" }]);
});

test("a series busy this minute is held through the minute's end (its decision comes then), unless its environment is still running", () => {
  const idle = plan(100 * MIN + 10_000, [window("a", 90, 5, 1)], ["a|t"], [env("e1", "a", "ready")]);
  assert.equal(idle.desired.length, 1);
  assert.equal(idle.desired[0]!.until, 101 * MIN + 5_000);
  assert.match(idle.desired[0]!.reason, /busy this minute/);
  const running = plan(100 * MIN + 10_000, [], ["a|t"], [env("e1", "a", "busy")]);
  assert.equal(running.desired.length, 0, "no second environment beside the running one");
});

test("capacity goes to the windows that avoid the most cold-start time per GB·minute", () => {
  // Room for one 256 MB shadow at 80 %: the short, sure window wins over the long one.
  const tight: PoolSnapshot = pool([], 400);
  const p = planFromWindows({
    now: 110 * MIN,
    windows: [window("a", 109, 0, 60), window("b", 109, 0, 2)],
    busyNow: new Map(),
    templates,
    forecasts: new Map(),
    leadMs: leads,
    pool: tight,
    config,
  });
  assert.deepEqual(
    p.desired.map((d) => d.series),
    ["b|t"],
  );
  assert.ok(p.skipped.some((s) => s.series === "a|t" && /capacity/.test(s.reason)));
});

test("a series that ran tasks side by side gets as many environments, the extra ones at a discount", () => {
  const w = { ...window("a", 100, 0, 3), environments: 3 };
  const p = plan(101 * MIN, [w]);
  assert.deepEqual(
    p.desired.map((d) => [d.rank, Number(d.pHit.toFixed(3))]),
    [
      [1, 0.9],
      [2, 0.45],
      [3, 0.225],
    ],
  );
  // Busy this minute with 2 environments used, one still running: hold only the idle one.
  const busy = planFromWindows({
    now: 100 * MIN + 10_000,
    windows: [],
    busyNow: new Map([["a|t", 2]]),
    templates,
    forecasts: new Map(),
    leadMs: leads,
    pool: pool([env("e1", "a", "busy"), env("e2", "a", "ready")]),
    config,
  });
  assert.equal(busy.desired.length, 1);
});

test("busy environments count once per (user, spec): a series busy now does not use up another's window", () => {
  // a|t and a|u share user and spec. a|t is busy now on its one environment; a|u is inside its window.
  const t2 = new Map(templates);
  t2.set("a|u", { user: "a", taskType: "u", spec });
  const uWindow = { ...window("a", 100, 0, 10), series: "a|u" };
  const p = planFromWindows({
    now: 101 * MIN + 5_000,
    windows: [uWindow],
    busyNow: new Map([["a|t", 1]]),
    templates: t2,
    forecasts: new Map(),
    leadMs: leads,
    pool: pool([env("e1", "a", "busy")]),
    config,
  });
  assert.deepEqual(
    p.desired.map((d) => d.series),
    ["a|u"],
  );
});

test("windows long over cost nothing and say nothing", () => {
  const over = Array.from({ length: 1000 }, (_, i) => ({ ...window("a", 10, 0, 1), series: `a|x${i}` }));
  const p = plan(500 * MIN, over);
  assert.equal(p.desired.length, 0);
  assert.equal(p.skipped.length, 0);
});

test("environments follow square-root staffing: the recent peak plus ⌊h·√peak⌋, capped per series", () => {
  const h = (peak: number, over: Partial<typeof config> = {}) => staffed(peak, { ...config, ...over });
  assert.deepEqual(
    [1, 2, 3, 4, 8, 9, 15, 16, 100].map((n) => h(n, { maxPerSeries: 1000 })),
    [1, 2, 3, 5, 9, 10, 16, 18, 105],
  );
  assert.equal(h(16, { maxPerSeries: 1000, concurrencyHeadroom: 0 }), 16);
  assert.equal(h(16), 8, "maxPerSeries caps the count");
  // In the plan: a window for a series that ran 4 tasks at once holds 5 environments.
  const p = plan(101 * MIN, [{ ...window("a", 100, 0, 3), environments: 4 }]);
  assert.equal(p.desired.length, 5);
});

test("a series busy inside its window holds the window's environments, not only this minute's", () => {
  // The window after minute 100 holds 4 (peak 4 + headroom 1 = 5); in busy minute 102 one task ran so far.
  const w = { ...window("a", 100, 0, 10), environments: 4 };
  const inside = plan(102 * MIN + 10_000, [w], [["a|t", 1]], [env("e1", "a", "busy")]);
  assert.equal(inside.desired.length, 4, "5 held, one of them the running environment");
  assert.ok(inside.desired.every((d) => d.until === w.until + config.graceMs));
  // Outside its window (the next one opens later), a busy series holds what the minute used.
  const later = { ...window("a", 100, 5, 10), environments: 4 };
  const outside = plan(102 * MIN + 10_000, [later], [["a|t", 2]]);
  assert.equal(outside.desired.length, 2);
  assert.equal(outside.desired[0]!.until, 103 * MIN + config.graceMs);
});

test("window plans are exact: a held environment beyond the window's count is released now, a forecast plan's keeps its hold", () => {
  const held = (id: string): EnvironmentView => ({
    ...env(id, "a", "ready"),
    shadow: true,
    hold: { series: "a|t", since: 100 * MIN, until: 110 * MIN, benefit: 1, reason: "x" },
  });
  // Three shadows held from a cold-start cascade; the window now holds the series' peak of 1.
  const envs = [held("s1"), held("s2"), held("s3")];
  const p = plan(101 * MIN, [window("a", 100, 0, 9)], [], envs);
  assert.equal(p.exact, true);
  const actions = reconcile(p, pool(envs));
  assert.deepEqual(
    actions.hold.map((x) => x.environmentId),
    ["s1"],
  );
  assert.deepEqual(
    actions.release.map((r) => [r.environmentId, r.reason]),
    [
      ["s2", "beyond the environments the window holds"],
      ["s3", "beyond the environments the window holds"],
    ],
  );
  // The same plan without `exact` (as a forecast plan) leaves unserved holds to their window's end.
  assert.deepEqual(reconcile({ ...p, exact: false }, pool(envs)).release, []);
});

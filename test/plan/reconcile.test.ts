import assert from "node:assert/strict";
import { test } from "node:test";
import { type EnvironmentSpec, specKey } from "../../src/core/types.js";
import { reconcile } from "../../src/plan/reconcile.js";
import type { DesiredShadow, Plan } from "../../src/plan/shadow-planner.js";
import type { EnvironmentView, PoolSnapshot } from "../../src/pool/environment.js";
import { mulberry32 } from "../random.js";
import { reconcileReference } from "./reconcile-reference.js";

const MIN = 60_000;
const STATES: EnvironmentView["state"][] = ["creating", "warming", "ready", "busy", "draining", "gone"];
const SPECS: EnvironmentSpec[] = [
  { runtime: "node", dependencies: [], resources: { cpu: 1, memoryMb: 256, storageMb: 0, networkMbps: 0 } },
  { runtime: "node", dependencies: [], resources: { cpu: 1, memoryMb: 512, storageMb: 0, networkMbps: 0 } },
  {
    runtime: "python3",
    dependencies: ["numpy"],
    resources: { cpu: 1, memoryMb: 256, storageMb: 0, networkMbps: 0 },
  },
];

function randomCase(rand: () => number): { plan: Plan; pool: PoolSnapshot } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const users = ["a", "b", "c"].slice(0, 1 + Math.floor(rand() * 3));
  const series = (u: string) => `${u}|${pick(["t", "u"])}`;
  const now = 100 * MIN;
  const environments: EnvironmentView[] = Array.from({ length: Math.floor(rand() * 40) }, (_, i) => {
    const spec = pick(SPECS);
    const state = pick(STATES);
    const user = pick(users);
    return {
      // A few duplicate ids: the pool is the caller's, reconcile must not assume them unique.
      id: rand() < 0.05 ? "dup" : `e${i}`,
      user,
      spec,
      specKey: specKey(spec),
      state,
      shadow: rand() < 0.5,
      createdAt: 0,
      readyAt: 0,
      idleSince: state === "ready" ? now - Math.floor(rand() * 4) * MIN : null,
      tasksRun: 0,
      coldStartMs: 1000,
      idleMbMs: 0,
      hold:
        rand() < 0.6
          ? {
              series: series(rand() < 0.9 ? user : pick(users)),
              since: now - Math.floor(rand() * 3) * MIN,
              until: now + Math.floor(rand() * 5 - 2) * MIN,
              benefit: 1,
              reason: "x",
            }
          : null,
    };
  });
  const desired: DesiredShadow[] = Array.from({ length: Math.floor(rand() * 25) }, () => {
    const user = pick(users);
    const spec = pick(SPECS);
    return {
      series: series(user),
      user,
      taskType: "t",
      spec,
      specKey: specKey(spec),
      rank: 1 + Math.floor(rand() * 4),
      from: now,
      until: now + 5 * MIN,
      pHit: 0.5,
      benefit: rand(),
      confidence: 1,
      model: "m",
      reason: "r",
    };
  });
  const skipped = users
    .filter(() => rand() < 0.3)
    .map((u) => ({ series: series(u), reason: pick(["capacity: below admitted", "window opens later"]) }));
  return {
    plan: { now, desired, skipped, ...(rand() < 0.5 ? { exact: true } : {}) },
    pool: { now, environments, capacity: { cpu: 64, memoryMb: 65_536, maxEnvironments: 64 } },
  };
}

test("reconcile's per-(user, spec) index decides exactly as scanning the whole pool for every shadow", () => {
  const rand = mulberry32(11);
  let held = 0;
  for (let i = 0; i < 3000; i++) {
    const { plan, pool } = randomCase(rand);
    const got = reconcile(plan, pool);
    assert.deepEqual(got, reconcileReference(plan, pool), `case ${i}`);
    held += got.hold.length;
  }
  assert.ok(held > 1000, `the cases match environments (${held} holds)`);
});

/** User u's idle environment e0 of `spec`, idle for a minute at `now`. */
const idleEnv = (spec: EnvironmentSpec, now: number, shadow: boolean): EnvironmentView => ({
  id: "e0",
  user: "u",
  spec,
  specKey: specKey(spec),
  state: "ready",
  shadow,
  createdAt: 0,
  readyAt: 0,
  idleSince: now - MIN,
  tasksRun: 0,
  coldStartMs: 1000,
  idleMbMs: 0,
  hold: null,
});

/** A shadow of user u's `series` of `spec`, wanted from `now` for 5 minutes. */
const wantedShadow = (series: string, spec: EnvironmentSpec, now: number): DesiredShadow => ({
  series,
  user: "u",
  taskType: series.slice(2),
  spec,
  specKey: specKey(spec),
  rank: 1,
  from: now,
  until: now + 5 * MIN,
  pHit: 0.5,
  benefit: 1,
  confidence: 1,
  model: "m",
  reason: "r",
});

test("shadows of one user take its environments in code-unit order of their series, whatever the locale", () => {
  const spec = SPECS[0]!;
  const now = 100 * MIN;
  const env = idleEnv(spec, now, true);
  const shadow = (series: string) => wantedShadow(series, spec, now);
  // localeCompare puts "u|b" before "u|B" (lower case first in ICU's root collation); code units do not.
  const got = reconcile(
    { now, desired: [shadow("u|b"), shadow("u|B")], skipped: [] },
    { now, environments: [env], capacity: { cpu: 64, memoryMb: 65_536, maxEnvironments: 64 } },
  );
  assert.equal(got.hold.length, 1);
  assert.equal(got.hold[0]!.desired.series, "u|B");
  assert.deepEqual(
    got.create.map((d) => d.series),
    ["u|b"],
  );
});

test("an environment the backend could not resize is not asked again: a shadow of the wanted size is created", () => {
  const [small, big] = [SPECS[0]!, { ...SPECS[0]!, resources: { ...SPECS[0]!.resources, memoryMb: 4096 } }];
  const now = 100 * MIN;
  const env = { ...idleEnv(small, now, false), tasksRun: 1 };
  const plan = { now, desired: [wantedShadow("u|t", big, now)], skipped: [] };
  const pool = { now, environments: [env], capacity: { cpu: 64, memoryMb: 65_536, maxEnvironments: 64 } };
  const first = reconcile(plan, pool);
  assert.deepEqual(
    first.resize.map((r) => r.environmentId),
    ["e0"],
    "the idle environment of the same code is resized",
  );
  assert.deepEqual(first.create, []);
  const after = reconcile(plan, pool, new Set(["e0"]));
  assert.deepEqual(after.resize, []);
  assert.deepEqual(
    after.create.map((d) => d.specKey),
    [specKey(big)],
  );
});

test("an environment is resized for a shadow only within the memory its backend can give it in place", () => {
  const small = SPECS[0]!;
  const sized = (memoryMb: number) => ({ ...small, resources: { ...small.resources, memoryMb } });
  const now = 100 * MIN;
  const capacity = { cpu: 64, memoryMb: 65_536, maxEnvironments: 64 };
  const env = { ...idleEnv(sized(512), now, false), tasksRun: 1, maxInPlaceMemoryMb: 512 };
  const plan = (memoryMb: number) => ({
    now,
    desired: [wantedShadow("u|t", sized(memoryMb), now)],
    skipped: [],
  });
  const past = reconcile(plan(1024), { now, environments: [env], capacity });
  assert.deepEqual(past.resize, []);
  assert.deepEqual(
    past.create.map((d) => d.spec.resources.memoryMb),
    [1024],
  );
  const within = reconcile(plan(384), { now, environments: [env], capacity });
  assert.deepEqual(
    within.resize.map((r) => r.environmentId),
    ["e0"],
  );
  // 0: not resizable in place at all (no hard limits).
  const none = reconcile(plan(384), { now, environments: [{ ...env, maxInPlaceMemoryMb: 0 }], capacity });
  assert.deepEqual(none.resize, []);
  assert.equal(none.create.length, 1);
});

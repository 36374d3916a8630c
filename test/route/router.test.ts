import assert from "node:assert/strict";
import { test } from "node:test";
import { type EnvironmentSpec, specKey } from "../../src/core/types.js";
import type { EnvironmentView, PoolSnapshot } from "../../src/pool/environment.js";
import { expiredEnvironments, routeTask } from "../../src/route/router.js";
import { TaskQueue } from "../../src/route/task-queue.js";

const spec = (memoryMb = 256, cpu = 1): EnvironmentSpec => ({
  runtime: "node",
  dependencies: [],
  resources: { cpu, memoryMb, storageMb: 0, networkMbps: 0 },
});

function env(
  id: string,
  user: string,
  state: EnvironmentView["state"],
  idleSince: number | null,
  s = spec(),
): EnvironmentView {
  return {
    id,
    user,
    spec: s,
    specKey: specKey(s),
    state,
    shadow: false,
    createdAt: 0,
    readyAt: 0,
    idleSince,
    tasksRun: 0,
    coldStartMs: 0,
    idleMbMs: 0,
    hold: null,
  };
}

const pool = (envs: EnvironmentView[], memoryMb = 1024, maxEnvironments = 10): PoolSnapshot => ({
  now: 1000,
  environments: envs,
  capacity: { cpu: 8, memoryMb, maxEnvironments },
});

test("routes to the most recently idle environment of the same user and spec", () => {
  const d = routeTask(
    { user: "a", spec: spec() },
    pool([env("old", "a", "ready", 10), env("new", "a", "ready", 500), env("busy", "a", "busy", null)]),
  );
  assert.deepEqual([d.kind, d.kind === "warm" && d.environmentId], ["warm", "new"]);
});

test("never routes to another user's environment or one with other dependencies", () => {
  const withDep: EnvironmentSpec = { ...spec(), dependencies: ["numpy"] };
  const d = routeTask(
    { user: "a", spec: spec() },
    pool([env("b1", "b", "ready", 10), env("a2", "a", "ready", 10, withDep)]),
  );
  assert.equal(d.kind, "cold");
});

test("best fit: the smallest ready environment of the user that holds the task", () => {
  const d = routeTask(
    { user: "a", spec: spec(300) },
    pool(
      [
        env("big", "a", "ready", 900, spec(1024)),
        env("mid", "a", "ready", 10, spec(512)),
        env("small", "a", "ready", 10, spec(256)),
      ],
      4096,
    ),
  );
  assert.deepEqual([d.kind, d.kind === "warm" && d.environmentId], ["warm", "mid"]);
});

test("an idle environment that is too small is grown when capacity allows, else the task waits", () => {
  const d = routeTask(
    { user: "a", spec: spec(512) },
    pool([env("small", "a", "ready", 10, spec(256))], 1024),
  );
  assert.equal(d.kind, "resize");
  assert.equal(d.kind === "resize" && d.resources.memoryMb, 512);
  const full = routeTask(
    { user: "a", spec: spec(512) },
    pool([env("small", "a", "ready", 10, spec(256)), env("x", "b", "busy", null, spec(768))], 1024),
  );
  assert.equal(full.kind, "queue");
});

test("one its backend cannot grow in place stays for smaller tasks: the task starts cold beside it", () => {
  // A Node runner's heap limit is fixed at start: its ceiling is about its start size.
  const fixed = (id: string, idleSince: number, mb: number): EnvironmentView => ({
    ...env(id, "a", "ready", idleSince, spec(mb)),
    maxInPlaceMemoryMb: mb,
  });
  const d = routeTask({ user: "a", spec: spec(512) }, pool([fixed("small", 10, 256)], 1024));
  assert.deepEqual([d.kind, d.kind === "cold" && d.evict], ["cold", []]);
  // Of two too-small ones, the one that can grow is grown, though the other is more recently idle.
  const grow = routeTask(
    { user: "a", spec: spec(512) },
    pool(
      [
        fixed("fixed", 900, 256),
        { ...env("elastic", "a", "ready", 10, spec(256)), maxInPlaceMemoryMb: null },
      ],
      2048,
    ),
  );
  assert.deepEqual([grow.kind, grow.kind === "resize" && grow.environmentId], ["resize", "elastic"]);
  // Without cgroups (ceiling 0) nothing grows; when capacity is short the old one is evicted for it.
  const tight = routeTask(
    { user: "a", spec: spec(512) },
    pool([{ ...env("small", "a", "ready", 10, spec(256)), maxInPlaceMemoryMb: 0 }], 512),
  );
  assert.deepEqual([tight.kind, tight.kind === "cold" && tight.evict], ["cold", ["small"]]);
});

test("an environment the plan is resizing is never routed to; a task that fits its new size waits for it", () => {
  const shrinking = { ...env("s", "a", "ready", 10, spec(512)), resizingTo: spec(256).resources };
  const fits = routeTask({ user: "a", spec: spec(200) }, pool([shrinking], 2048));
  assert.deepEqual([fits.kind, fits.kind === "wait" && fits.environmentId], ["wait", "s"]);
  // Too big for the new size: not routed to it at its old size either; started cold.
  assert.equal(routeTask({ user: "a", spec: spec(384) }, pool([shrinking], 2048)).kind, "cold");
  // A ready one that fits now beats waiting; another user never waits for a's.
  const ready = env("r", "a", "ready", 5, spec(256));
  const now = routeTask({ user: "a", spec: spec(200) }, pool([shrinking, ready], 2048));
  assert.deepEqual([now.kind, now.kind === "warm" && now.environmentId], ["warm", "r"]);
  assert.equal(routeTask({ user: "b", spec: spec(200) }, pool([shrinking], 2048)).kind, "cold");
});

test("eviction takes unheld idle environments first, then held shadows by ascending benefit", () => {
  const held = (id: string, benefit: number): EnvironmentView => ({
    ...env(id, "b", "ready", 1, spec(256)),
    shadow: true,
    hold: { series: "s", since: 0, until: 99_999, benefit, reason: "test" },
  });
  const d = routeTask(
    { user: "a", spec: spec(512) },
    pool(
      [
        held("rich", 5),
        held("poor", 1),
        env("leftover", "c", "ready", 500, spec(256)),
        env("busy", "d", "busy", null, spec(256)),
      ],
      1024,
    ),
  );
  assert.deepEqual(d.kind === "cold" && d.evict, ["leftover", "poor"]);
});

test("a real task evicts idle environments (least recently idle first) when capacity is full", () => {
  const d = routeTask(
    { user: "a", spec: spec(512) },
    pool(
      [
        env("b-old", "b", "ready", 10),
        env("b-new", "b", "ready", 900),
        env("c", "c", "busy", null, spec(512)),
      ],
      1024,
    ),
  );
  assert.equal(d.kind, "cold");
  assert.deepEqual(d.kind === "cold" && d.evict, ["b-old", "b-new"]);
});

test("queues when only busy environments hold the capacity", () => {
  const d = routeTask({ user: "a", spec: spec(512) }, pool([env("c", "c", "busy", null, spec(1024))], 1024));
  assert.equal(d.kind, "queue");
  const byCount = routeTask(
    { user: "a", spec: spec(16) },
    pool([env("c", "c", "busy", null, spec(16))], 1024, 1),
  );
  assert.equal(byCount.kind, "queue");
});

test("keep-alive: idle since e, still there for an arrival at e + ka, gone after", () => {
  const p = (now: number): PoolSnapshot => ({ ...pool([env("x", "a", "ready", 400)]), now });
  assert.equal(expiredEnvironments(p(1000), 600).length, 0);
  assert.equal(expiredEnvironments(p(1001), 600).length, 1);
});

test("the task queue serves higher priority first, FIFO within a priority, and is bounded", () => {
  const q = new TaskQueue<{ id: string; priority: number }>(3);
  assert.ok(q.offer({ id: "a", priority: 1 }));
  assert.ok(q.offer({ id: "b", priority: 9 }));
  assert.ok(q.offer({ id: "c", priority: 1 }));
  assert.equal(q.offer({ id: "d", priority: 9 }), false);
  assert.deepEqual(
    q.ordered().map((x) => x.id),
    ["b", "a", "c"],
  );
  assert.ok(q.remove("a"));
  assert.deepEqual(
    q.drain().map((x) => x.id),
    ["b", "c"],
  );
});

test("a task put back (it could not start) goes first among its priority, even when the queue is full", () => {
  const q = new TaskQueue<{ id: string; priority: number }>(3);
  for (const [id, priority] of [
    ["x", 9],
    ["a", 1],
    ["b", 1],
  ] as const)
    q.offer({ id, priority });
  const taken = q.ordered()[1]!;
  q.remove(taken.id);
  assert.ok(q.offer({ id: "c", priority: 1 }));
  q.putBack(taken);
  assert.deepEqual(
    q.ordered().map((x) => x.id),
    ["x", "a", "b", "c"],
  );
});

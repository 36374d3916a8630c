import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import type { EnvironmentSpec, ResourceVector } from "../../src/core/types.js";
import { specKey } from "../../src/core/types.js";
import { silentLogger } from "../../src/log/logger.js";
import type { DesiredShadow } from "../../src/plan/shadow-planner.js";
import { eventually, type Harness, startHarness, writeTask } from "../server/harness.js";

type Env = { id: string; user: string; state: string; spec: { resources: { memoryMb: number } } };

const environments = async (h: Harness): Promise<Env[]> =>
  (await h.get("/v1/environments")).body.environments as Env[];
const poolMemory = (envs: Env[]): number => envs.reduce((s, e) => s + e.spec.resources.memoryMb, 0);
const statusOf = async (h: Harness, id: unknown): Promise<unknown> =>
  (await h.get(`/v1/tasks/${String(id)}`)).body.status;
const until = <T>(what: () => Promise<T | undefined>) => eventually(what, 400, 25);

// Returns its pid once the flag file in its input exists (none: at once).
const WAIT_FOR_FLAG =
  "import fs from 'node:fs';\nexport async function handler(i) {\n  while (i.flag && !fs.existsSync(i.flag)) await new Promise((r) => setTimeout(r, 10));\n  return process.pid;\n}\n";

for (const cgroups of [false, "auto"] as const) {
  test(`growing a too-small environment for a task holds the growth at once: the same pump cannot spend it (cgroups ${cgroups})`, async () => {
    const h = await startHarness({
      cgroups,
      keepAliveMs: 600_000,
      capacity: { cpu: 8, memoryMb: 512, maxEnvironments: 8 },
      prediction: { enabled: false },
    });
    try {
      writeTask(h.tasksDir, "wait.mjs", WAIT_FOR_FLAG);
      const task = (user: string, memoryMb: number, flag: string | null, priority = 5) => ({
        user,
        runtime: "node",
        entry: "wait.mjs",
        priority,
        input: flag ? { flag: path.join(h.dir, flag) } : {},
        resources: { memoryMb },
      });
      const a0 = (await h.post(task("a", 128, null), "?wait=true")).body;
      assert.equal(a0.status, "succeeded");
      // c's task holds 256 MiB while a's (384: a's 128-MiB environment must grow) and b's queue.
      const c = (await h.post(task("c", 256, "c-done"))).body;
      await until(async () => ((await statusOf(h, c.id)) === "running" ? true : undefined));
      const a1 = (await h.post(task("a", 384, "ab-done", 9))).body;
      const b1 = (await h.post(task("b", 384, "ab-done", 1))).body;
      assert.deepEqual([await statusOf(h, a1.id), await statusOf(h, b1.id)], ["queued", "queued"]);
      // c ends: one pump routes a's task (growing a's environment, evicting c's) and then b's, which
      // fits only if a's growth is not counted yet.
      writeTask(h.dir, "c-done", "");
      await until(async () => ((await statusOf(h, a1.id)) === "running" ? true : undefined));
      const envs = await environments(h);
      assert.ok(poolMemory(envs) <= 512, `pool holds ${poolMemory(envs)} MiB: ${JSON.stringify(envs)}`);
      assert.equal(await statusOf(h, b1.id), "queued", "b's task waits for room");
      writeTask(h.dir, "ab-done", "");
      await until(async () => ((await statusOf(h, b1.id)) === "succeeded" ? true : undefined));
      const ra1 = (await h.get(`/v1/tasks/${String(a1.id)}`)).body;
      assert.equal(ra1.status, "succeeded");
      if (cgroups === false) assert.notEqual(ra1.environmentId, a0.environmentId, "replaced: no cgroups");
      assert.ok(poolMemory(await environments(h)) <= 512);
    } finally {
      await h.server.close();
    }
  });
}

/** A server planning on demand only (test calls apply), on `backend`, with `memoryMb` of capacity. */
function plannedHarness(memoryMb: number, backend: (dir: string) => ProcessBackend): Promise<Harness> {
  return startHarness(
    {
      keepAliveMs: 600_000,
      capacity: { cpu: 8, memoryMb, maxEnvironments: 8 },
      prediction: { enabled: true, planIntervalMs: 3_600_000, retrainIntervalMs: 3_600_000 },
    },
    { backend },
  );
}

/** What the planner asks when user's series `t` should have an environment of `spec` from `now`. */
function wanted(user: string, spec: EnvironmentSpec, now: number): DesiredShadow {
  return {
    series: `${user}|t`,
    user,
    taskType: "t",
    spec,
    specKey: specKey(spec),
    rank: 1,
    from: now,
    until: now + 600_000,
    pHit: 1,
    benefit: 1,
    confidence: 1,
    model: "test",
    reason: "test",
  };
}

/** The real process backend, noting which environments it is asked to resize. */
class NotedResizes extends ProcessBackend {
  readonly resized: string[] = [];
  readonly resizes: Promise<boolean>[] = [];
  override resize(id: string, resources: ResourceVector): Promise<boolean> {
    this.resized.push(id);
    const done = super.resize(id, resources);
    this.resizes.push(done);
    return done;
  }
}

test("the plan grows an idle environment only when the growth fits, counting the growth it asked for already", async (t) => {
  let backend: NotedResizes | undefined;
  const h = await plannedHarness(640, (dir) => {
    backend = new NotedResizes({ logger: silentLogger(), workDir: path.join(dir, "envs") });
    return backend;
  });
  try {
    // Python: a Node worker is never grown in place past the heap it started with.
    if (!backend!.hardLimits) return t.skip("cgroup v1 is not writable here: nothing resizes in place");
    writeTask(h.tasksDir, "ok.py", "def handler(x):\n    return 1\n");
    for (const user of ["a", "b"]) {
      const r = await h.post(
        { user, type: "t", runtime: "python3", entry: "ok.py", resources: { memoryMb: 256 } },
        "?wait=true",
      );
      assert.equal(r.body.status, "succeeded");
    }
    const orchestrator = h.server.orchestrator;
    const loop = h.server.prediction!;
    const now = orchestrator.snapshot().now;
    const envOf = (user: string) => orchestrator.snapshot().environments.find((e) => e.user === user)!;
    // What the planner asks when a series' forecast says its tasks need more memory: a's or b's idle
    // 256-MiB environment is grown (the planner's own share of capacity counts busy environments only).
    const wants = (user: string, memoryMb: number): DesiredShadow => {
      const base = envOf(user).spec;
      return wanted(user, { ...base, resources: { ...base.resources, memoryMb } }, now);
    };
    // 512 of 640 MiB held: a growth of 256 does not fit; of 128 each, one fits but not both.
    loop.apply({ now, desired: [wants("a", 512)], skipped: [], exact: true });
    assert.deepEqual(backend!.resized, [], "no room to grow a's");
    loop.apply({ now, desired: [wants("a", 384), wants("b", 384)], skipped: [], exact: true });
    assert.deepEqual(backend!.resized, [envOf("a").id], "a's grows; b's growth does not fit after it");
    await Promise.all(backend!.resizes);
    const total = poolMemory(await environments(h));
    assert.ok(total <= 640, `pool holds ${total} MiB`);
    // With a's environment gone, b's growth fits.
    orchestrator.pool.reclaim(envOf("a").id, "test: room for b");
    loop.apply({ now, desired: [wants("b", 384)], skipped: [], exact: true });
    assert.equal(backend!.resized.at(-1), envOf("b").id, "with room, the plan grows it");
  } finally {
    await h.server.close();
  }
});

/** The real process backend, whose resizes wait for `open()` once `hold()` was called. */
class GatedResizes extends ProcessBackend {
  private gate: Promise<void> | null = null;
  private release: () => void = () => {};
  readonly resizes: Promise<boolean>[] = [];
  hold(): void {
    this.gate = new Promise((r) => {
      this.release = r;
    });
  }
  open(): void {
    this.release();
  }
  override resize(id: string, resources: ResourceVector): Promise<boolean> {
    const done = (this.gate ?? Promise.resolve()).then(() => super.resize(id, resources));
    this.resizes.push(done);
    return done;
  }
}

/** A planned harness (2 GiB) on GatedResizes. */
async function gatedHarness(): Promise<{ h: Harness; backend: GatedResizes }> {
  let backend: GatedResizes | undefined;
  const h = await plannedHarness(2048, (dir) => {
    backend = new GatedResizes({ logger: silentLogger(), workDir: path.join(dir, "envs") });
    return backend;
  });
  return { h, backend: backend! };
}

/** The plan, told `user`'s tasks need `memoryMb`, resizes its idle environment `envId`; held until open(). */
function planHeldResize(
  h: Harness,
  backend: GatedResizes,
  user: string,
  envId: unknown,
  memoryMb: number,
): void {
  const now = h.server.orchestrator.snapshot().now;
  const base = h.server.orchestrator.snapshot().environments.find((e) => e.id === envId)!.spec;
  const spec = { ...base, resources: { ...base.resources, memoryMb } };
  backend.hold();
  h.server.prediction!.apply({ now, desired: [wanted(user, spec, now)], skipped: [], exact: true });
}

test("while the plan resizes an idle environment, no task is routed to it at its old size", async (t) => {
  const { h, backend } = await gatedHarness();
  try {
    if (!backend.hardLimits) return t.skip("cgroup v1 is not writable here: nothing resizes in place");
    writeTask(h.tasksDir, "wait.mjs", WAIT_FOR_FLAG);
    const task = (memoryMb: number, flag: string | null) => ({
      user: "a",
      type: "t",
      runtime: "node",
      entry: "wait.mjs",
      input: flag ? { flag: path.join(h.dir, flag) } : {},
      resources: { memoryMb },
    });
    const first = (await h.post(task(512, null), "?wait=true")).body;
    assert.equal(first.status, "succeeded");
    // The forecast says a's tasks need 256 MiB: the plan shrinks the idle 512-MiB environment, and
    // the backend is slow to do it.
    planHeldResize(h, backend, "a", first.environmentId, 256);
    assert.equal(backend!.resizes.length, 1, "the plan shrinks the environment");
    // Meanwhile a task that needs 384 MiB arrives, and runs until the shrink has landed.
    const big = (await h.post(task(384, "big-done"))).body;
    await until(async () => ((await statusOf(h, big.id)) === "running" ? true : undefined));
    backend!.open();
    await Promise.all(backend!.resizes);
    const ranIn = (await h.get(`/v1/tasks/${String(big.id)}`)).body.environmentId;
    const env = (await environments(h)).find((e) => e.id === ranIn);
    assert.ok(
      (env?.spec.resources.memoryMb ?? 0) >= 384,
      `the 384-MiB task runs in ${String(ranIn)} of ${env?.spec.resources.memoryMb} MiB`,
    );
    writeTask(h.dir, "big-done", "");
    await until(async () => ((await statusOf(h, big.id)) === "succeeded" ? true : undefined));
  } finally {
    await h.server.close();
  }
});

test("a task that fits the size the plan is resizing to waits for it, warm, holding back no other tenant", async (t) => {
  const { h, backend } = await gatedHarness();
  try {
    if (!backend.hardLimits) return t.skip("cgroup v1 is not writable here: nothing resizes in place");
    writeTask(h.tasksDir, "ok.mjs", "export function handler() { return 1; }\n");
    const task = (user: string, memoryMb: number, priority = 5) => ({
      user,
      type: "t",
      runtime: "node",
      entry: "ok.mjs",
      priority,
      resources: { memoryMb },
    });
    const first = (await h.post(task("a", 512), "?wait=true")).body;
    assert.equal(first.status, "succeeded");
    planHeldResize(h, backend, "a", first.environmentId, 256);
    assert.equal(backend!.resizes.length, 1, "the plan shrinks the environment");
    // a's urgent task fits the new size: it waits for the shrink. b's (lower priority) is not held back.
    const urgent = (await h.post(task("a", 200, 9))).body;
    const other = (await h.post(task("b", 128, 1), "?wait=true")).body;
    assert.equal(other.status, "succeeded", "another tenant's task starts while a's waits");
    assert.equal(await statusOf(h, urgent.id), "queued", "waits for the resize, not a cold start");
    backend!.open();
    await until(async () => ((await statusOf(h, urgent.id)) === "succeeded" ? true : undefined));
    const done = (await h.get(`/v1/tasks/${String(urgent.id)}`)).body;
    assert.deepEqual([done.environmentId, done.cold], [first.environmentId, false]);
    const env = (await environments(h)).find((e) => e.id === first.environmentId);
    assert.equal(env?.spec.resources.memoryMb, 256, "run at the size the plan gave it");
  } finally {
    await h.server.close();
  }
});

test("the plan resizes a Node environment in place only within its heap: past it, it creates a shadow, and may still shrink it", async (t) => {
  let backend: NotedResizes | undefined;
  const h = await plannedHarness(4096, (dir) => {
    backend = new NotedResizes({ logger: silentLogger(), workDir: path.join(dir, "envs") });
    return backend;
  });
  try {
    if (!backend!.hardLimits) return t.skip("cgroup v1 is not writable here: nothing resizes in place");
    writeTask(h.tasksDir, "ok.mjs", "export function handler() { return 1; }\n");
    const first = (
      await h.post(
        { user: "a", type: "t", runtime: "node", entry: "ok.mjs", resources: { memoryMb: 512 } },
        "?wait=true",
      )
    ).body;
    assert.equal(first.status, "succeeded");
    const orchestrator = h.server.orchestrator;
    const loop = h.server.prediction!;
    const now = orchestrator.snapshot().now;
    const mine = orchestrator.snapshot().environments.find((e) => e.id === first.environmentId)!;
    const sized = (memoryMb: number) => ({ ...mine.spec, resources: { ...mine.spec.resources, memoryMb } });
    // 1 GiB: more than the worker's heap (set for 512 MiB) can use; a shadow of that size instead.
    loop.apply({ now, desired: [wanted("a", sized(1024), now)], skipped: [], exact: true });
    assert.deepEqual(backend!.resized, [], "not asked to grow past the heap");
    const shadow = orchestrator.snapshot().environments.find((e) => e.id !== mine.id);
    assert.equal(shadow?.spec.resources.memoryMb, 1024, "a shadow of the wanted size");
    orchestrator.pool.reclaim(shadow!.id, "test: only the first environment");
    // A size it can take is still given in place.
    loop.apply({ now, desired: [wanted("a", sized(384), now)], skipped: [], exact: true });
    assert.deepEqual(backend!.resized, [mine.id], "shrunk in place");
    assert.deepEqual(await Promise.all(backend!.resizes), [true]);
  } finally {
    await h.server.close();
  }
});

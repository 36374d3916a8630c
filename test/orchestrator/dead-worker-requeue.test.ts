import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { ExitListener, Invocation, RunResult } from "../../src/backends/backend.js";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { silentLogger } from "../../src/log/logger.js";
import { eventually, type Harness, startHarness, writeTask } from "../server/harness.js";

/**
 * The real process backend, announcing exits only once `announce()` is called: a worker that died
 * idle stays ready in the pool meanwhile, as it does while its exit is being classified.
 */
class LateExitNews extends ProcessBackend {
  private held: (() => void)[] | null = [];
  readonly runs: string[] = [];
  override onExit(listener: ExitListener): void {
    super.onExit((id, reason) => {
      if (this.held) this.held.push(() => listener(id, reason));
      else listener(id, reason);
    });
  }
  announce(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const f of held) f();
  }
  /** While set, runs wait for it (the task is in run(), its worker's death not noticed yet). */
  gate: Promise<void> | null = null;
  override async run(id: string, invocation: Invocation): Promise<RunResult> {
    this.runs.push(invocation.taskId);
    if (this.gate) await this.gate;
    return super.run(id, invocation);
  }
}

type Env = { id: string; user: string; state: string; pid: number | null };

async function setUp(config: Record<string, unknown> = {}): Promise<{ h: Harness; backend: LateExitNews }> {
  let backend: LateExitNews | undefined;
  const h = await startHarness(
    { keepAliveMs: 600_000, prediction: { enabled: false }, ...config },
    {
      backend: (dir) => {
        backend = new LateExitNews({ logger: silentLogger(), workDir: path.join(dir, "envs") });
        return backend;
      },
    },
  );
  // Waits for a flag file, so that several tasks of one user run at once (each in its own environment).
  writeTask(
    h.tasksDir,
    "pid.mjs",
    "import fs from 'node:fs';\nexport async function handler(i) {\n  while (i.flag && !fs.existsSync(i.flag)) await new Promise((r) => setTimeout(r, 10));\n  return process.pid;\n}\n",
  );
  return { h, backend: backend! };
}

const environments = async (h: Harness): Promise<Env[]> =>
  (await h.get("/v1/environments")).body.environments as Env[];

/** Kills the user's idle workers and waits until the backend (not the pool) has seen them die. */
async function killIdleWorkers(h: Harness, backend: LateExitNews, user: string): Promise<string[]> {
  const envs = (await environments(h)).filter((e) => e.user === user && e.state === "ready");
  for (const e of envs) process.kill(e.pid as number, "SIGKILL");
  const ids = envs.map((e) => e.id);
  await eventually(async () => (backend.list().some((e) => ids.includes(e.id)) ? undefined : true));
  return ids;
}

test("a task routed to a worker that died idle (exit not announced yet) runs in another environment", async () => {
  const { h, backend } = await setUp();
  try {
    const first = (await h.post({ user: "u", runtime: "node", entry: "pid.mjs", input: {} }, "?wait=true"))
      .body;
    assert.equal(first.status, "succeeded");
    const [dead] = await killIdleWorkers(h, backend, "u");
    assert.equal(dead, first.environmentId);
    assert.ok(
      (await environments(h)).some((e) => e.id === dead && e.state === "ready"),
      "the pool still sees the dead worker as ready",
    );
    const second = (await h.post({ user: "u", runtime: "node", entry: "pid.mjs", input: {} }, "?wait=true"))
      .body;
    assert.equal(second.status, "succeeded", String(second.error));
    assert.notEqual(second.environmentId, dead);
    assert.equal(second.cold, true, "its record is that of the run it got");
    assert.deepEqual(
      backend.runs.filter((id) => id === second.id),
      [second.id, second.id],
      "tried in the dead worker, then run once",
    );
    assert.ok(!(await environments(h)).some((e) => e.id === dead), "the dead worker is dropped");
    // Counted once, as the start it got: cold (the first task's and this one's), none warm.
    const { coldStarts, warmStarts } = h.server.orchestrator.counters;
    assert.deepEqual({ coldStarts, warmStarts }, { coldStarts: 2, warmStarts: 0 });
    const text = await (await fetch(`${h.server.url}/metrics`)).text();
    assert.match(text, /^forewarm_task_requeues_total\{start="warm"\} 1$/m);
    assert.match(text, /^forewarm_warm_starts_total 1$/m, "Prometheus counts the attempt, and the requeue");
  } finally {
    backend.announce();
    await h.server.close();
  }
});

test("a task that finds its worker dead again and again fails once, after two requeues", async () => {
  const { h, backend } = await setUp();
  try {
    // Three environments of user u, all idle, then all dead (their exits not announced).
    const flag = path.join(h.dir, "go");
    const posted = await Promise.all(
      [0, 1, 2].map(() => h.post({ user: "u", runtime: "node", entry: "pid.mjs", input: { flag } })),
    );
    await eventually(async () =>
      (await environments(h)).filter((e) => e.user === "u" && e.state === "busy").length === 3
        ? true
        : undefined,
    );
    writeTask(h.dir, "go", "");
    for (const p of posted)
      await eventually(async () =>
        (await h.get(`/v1/tasks/${p.body.id}`)).body.status === "succeeded" ? true : undefined,
      );
    const dead = await killIdleWorkers(h, backend, "u");
    assert.equal(dead.length, 3);
    const t = (await h.post({ user: "u", runtime: "node", entry: "pid.mjs", input: {} }, "?wait=true")).body;
    assert.equal(t.status, "failed");
    assert.match(String(t.error), /could not run: unknown environment/);
    assert.equal(t.startedAt === null, false, "the last attempt's start stands");
    assert.equal(backend.runs.filter((id) => id === t.id).length, 3, "one try and two requeues");
    const left = (await environments(h)).filter((e) => dead.includes(e.id));
    assert.deepEqual(left, [], "every dead worker is dropped");
  } finally {
    backend.announce();
    await h.server.close();
  }
});

test("the room a requeued task's dead worker frees goes to it by priority, not to a lower-priority task waiting meanwhile", async () => {
  // One environment at most: the dead one is all the room there is.
  const { h, backend } = await setUp({ capacity: { cpu: 8, memoryMb: 8192, maxEnvironments: 1 } });
  try {
    const first = (await h.post({ user: "a", runtime: "node", entry: "pid.mjs", input: {} }, "?wait=true"))
      .body;
    assert.equal(first.status, "succeeded");
    await killIdleWorkers(h, backend, "a");
    let release!: () => void;
    backend.gate = new Promise((r) => {
      release = r;
    });
    const urgent = (await h.post({ user: "a", runtime: "node", entry: "pid.mjs", input: {}, priority: 9 }))
      .body;
    await eventually(async () => (backend.runs.includes(String(urgent.id)) ? true : undefined));
    // Another tenant's task waits for the room the urgent task's (dead) environment holds.
    const flag = path.join(h.dir, "go");
    const low = (await h.post({ user: "b", runtime: "node", entry: "pid.mjs", input: { flag }, priority: 0 }))
      .body;
    assert.equal((await h.get(`/v1/tasks/${low.id}`)).body.status, "queued");
    backend.gate = null;
    release();
    // The urgent task is requeued and gets the room: it ends while the low one still waits.
    const status = async (id: unknown) => (await h.get(`/v1/tasks/${id}`)).body.status;
    await eventually(async () => ((await status(urgent.id)) === "succeeded" ? true : undefined));
    assert.equal(await status(low.id), "queued");
    fs.writeFileSync(flag, "");
    await eventually(async () => ((await status(low.id)) === "succeeded" ? true : undefined));
  } finally {
    backend.announce();
    await h.server.close();
  }
});

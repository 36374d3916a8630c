import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eventually, type Harness, startHarness, writeTask } from "./harness.js";

type Rec = Record<string, unknown>;

describe("live server on the embedded defaults (real workers, real SQLite, real HTTP)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ keepAliveMs: 600_000 });
    writeTask(
      h.tasksDir,
      "echo.mjs",
      "export function handler(input) { return { echoed: input, pid: process.pid }; }\n",
    );
    writeTask(
      h.tasksDir,
      "slow.mjs",
      "export async function handler(input) { await new Promise(r => setTimeout(r, input.ms)); return 'done'; }\n",
    );
    writeTask(h.tasksDir, "slowdep.py", "import time\ntime.sleep(0.6)\nVALUE = 42\n");
    writeTask(
      h.tasksDir,
      "usedep.py",
      "import slowdep\n\ndef handler(x):\n    return {'v': slowdep.VALUE + x['n']}\n",
    );
    writeTask(
      h.tasksDir,
      "hog.mjs",
      "export function handler() { const keep = []; for (;;) { keep.push(Buffer.alloc(8 << 20, 1)); } }\n",
    );
  });
  after(async () => {
    await h.server.close();
  });

  test("the same task twice: the second runs warm in the same environment and starts much sooner", async () => {
    const body = { user: "alice", runtime: "node", entry: "echo.mjs", input: { n: 1 } };
    const first = (await h.post(body, "?wait=true")).body as Rec;
    const second = (await h.post(body, "?wait=true")).body as Rec;
    assert.equal(first.status, "succeeded");
    assert.deepEqual((first.output as Rec).echoed, { n: 1 });
    assert.equal(first.cold, true);
    assert.equal(second.cold, false);
    assert.equal(second.environmentId, first.environmentId);
    assert.equal((second.output as Rec).pid, (first.output as Rec).pid, "no new process");
    assert.ok(
      (second.startLatencyMs as number) < (first.startLatencyMs as number),
      `warm ${second.startLatencyMs} ms should be below cold ${first.startLatencyMs} ms`,
    );
  });

  test("python: a slow dependency import is paid by the cold start only", async () => {
    const body = {
      user: "pyuser",
      runtime: "python3",
      entry: "usedep.py",
      dependencies: ["slowdep"],
      input: { n: 1 },
    };
    const cold = (await h.post(body, "?wait=true")).body as Rec;
    const warm = (await h.post(body, "?wait=true")).body as Rec;
    assert.equal(cold.status, "succeeded", String(cold.error));
    assert.deepEqual(cold.output, { v: 43 });
    assert.equal(cold.cold, true);
    assert.equal(warm.cold, false);
    // The import sleeps 600 ms: the cold start must contain it, the warm start must not.
    assert.ok(
      (cold.startLatencyMs as number) >= 600,
      `cold start ${cold.startLatencyMs} ms lacks the import`,
    );
    assert.ok(
      (warm.startLatencyMs as number) < 600,
      `warm start ${warm.startLatencyMs} ms paid the import again`,
    );
  });

  test("tasks of two users never share an environment", async () => {
    const envOf: Record<string, Set<string>> = { u1: new Set(), u2: new Set() };
    for (let i = 0; i < 3; i++) {
      for (const user of ["u1", "u2"]) {
        const r = (await h.post({ user, runtime: "node", entry: "echo.mjs", input: i }, "?wait=true"))
          .body as Rec;
        assert.equal(r.status, "succeeded");
        envOf[user]!.add(String(r.environmentId));
      }
    }
    for (const e of envOf.u1!) assert.ok(!envOf.u2!.has(e), `environment ${e} ran both users' tasks`);
    const envs = (await h.get("/v1/environments")).body.environments as Rec[];
    for (const e of envs) if (envOf.u1!.has(String(e.id))) assert.equal(e.user, "u1");
  });

  test("a task over its memory limit fails with that reason; its environment is replaced; serving goes on", async () => {
    const body = {
      user: "hoggy",
      runtime: "node",
      entry: "hog.mjs",
      resources: { memoryMb: 96 },
      timeoutMs: 30_000,
    };
    const r = (await h.post(body, "?wait=true")).body as Rec;
    assert.equal(r.status, "failed");
    assert.equal(r.exitStatus, "oom");
    assert.match(String(r.error), /memory/i);
    const replacement = await eventually(async () => {
      const envs = (await h.get("/v1/environments")).body.environments as Rec[];
      return envs.find((e) => e.user === "hoggy" && e.id !== r.environmentId && e.state === "ready");
    });
    assert.ok(replacement);
    const next = (await h.post({ ...body, entry: "echo.mjs", input: 5 }, "?wait=true")).body as Rec;
    assert.equal(next.status, "succeeded");
    const health = await h.get("/healthz");
    assert.equal(health.status, 200);
  });

  test("a worker killed with SIGKILL mid-task: the task ends failed, nothing hangs", async () => {
    const submitted = await h.post({
      user: "victim",
      runtime: "node",
      entry: "slow.mjs",
      input: { ms: 20_000 },
    });
    assert.equal(submitted.status, 202);
    const id = String(submitted.body.id);
    const running = await eventually(async () => {
      const t = (await h.get(`/v1/tasks/${id}`)).body;
      return t.status === "running" ? t : undefined;
    });
    const envs = (await h.get("/v1/environments")).body.environments as Rec[];
    const env = envs.find((e) => e.id === running.environmentId);
    assert.ok(env && typeof env.pid === "number", "the environment exposes its worker pid");
    process.kill(env.pid as number, "SIGKILL");
    const done = (
      await h.post({ user: "victim", runtime: "node", entry: "echo.mjs", input: 1 }, "?wait=true")
    ).body;
    assert.equal(done.status, "succeeded");
    const final = await eventually(async () => {
      const t = (await h.get(`/v1/tasks/${id}`)).body;
      return t.status === "failed" ? t : undefined;
    });
    assert.equal(final.exitStatus, "crashed");
    assert.match(String(final.error), /SIGKILL|signal|killed/i);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Harness, startHarness, writeTask } from "./harness.js";

type Rec = Record<string, unknown>;

describe("analysis, classification and estimates on the live server", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ capacity: { memoryMb: 4096, cpu: 8, maxEnvironments: 16 } });
    writeTask(
      h.tasksDir,
      "small.mjs",
      "import os from 'node:os';\nexport function handler(x) {\n  if (x && x.n > 1) return x.n * 2;\n  return os.platform();\n}\n",
    );
    writeTask(
      h.tasksDir,
      "hog.mjs",
      "export async function handler(x) {\n  const b = Buffer.alloc(200 * 1024 * 1024, 1);\n  if (x && x.wait) await new Promise((r) => setTimeout(r, x.wait));\n  return b.length;\n}\n",
    );
    // JS heap, not a Buffer (those live outside V8's heap limit): 1 MiB of doubles per array.
    writeTask(
      h.tasksDir,
      "heap.mjs",
      "export function handler() {\n  const k = [];\n  for (let i = 0; i < 300; i++) k.push(new Array(131072).fill(i + 0.5));\n  return k.length;\n}\n",
    );
    writeTask(h.tasksDir, "small.py", "def handler(x):\n    return 1\n");
    writeTask(
      h.tasksDir,
      "hog.py",
      "def handler(x):\n    b = bytearray(200 * 1024 * 1024)\n    return len(b)\n",
    );
  });
  after(async () => {
    await h.server.close();
  });

  const env = async (id: unknown): Promise<Rec | undefined> =>
    ((await h.get("/v1/environments")).body.environments as Rec[]).find((e) => e.id === id);
  const memoryOf = async (id: unknown): Promise<number | undefined> =>
    ((await env(id))?.spec as { resources: { memoryMb: number } } | undefined)?.resources.memoryMb;

  test("records carry the static analysis and the classifier's type", async () => {
    const a = (
      await h.post({ user: "u", runtime: "node", entry: "small.mjs", input: { n: 3 } }, "?wait=true")
    ).body;
    assert.equal(a.status, "succeeded");
    assert.equal(a.linesOfCode, 5);
    assert.equal(a.cyclomatic, 3, "1 + if + &&");
    assert.equal(a.functionCount, 1);
    assert.deepEqual(a.imports, ["node:os"]);
    assert.match(String(a.taskType), /^node:[0-9a-f]{16}$/);
    const ins = a.insight as Rec;
    assert.equal(ins.typeDeclared, false);
    assert.equal(ins.inputKind, "json-object");
    const again = (await h.get(`/v1/tasks/${a.id}`)).body;
    assert.deepEqual(again.insight, a.insight, "GET /v1/tasks/:id shows it");
    const b = (
      await h.post({ user: "u", runtime: "node", entry: "small.mjs", input: { n: 9 } }, "?wait=true")
    ).body;
    assert.equal(b.taskType, a.taskType, "same code, same type");
  });

  test("a task needing more memory than the idle environment grows it in place instead of running there as is", async () => {
    const small = (await h.post({ user: "w", runtime: "python3", entry: "small.py" }, "?wait=true")).body;
    assert.equal(small.status, "succeeded", String(small.error));
    assert.equal((await env(small.environmentId))?.state, "ready");
    const big = (
      await h.post(
        { user: "w", runtime: "python3", entry: "hog.py", resources: { memoryMb: 512 } },
        "?wait=true",
      )
    ).body;
    assert.equal(big.status, "succeeded", String(big.error));
    assert.equal(big.environmentId, small.environmentId, "the idle environment was reused after a resize");
    assert.equal(big.cold, false);
    assert.equal(await memoryOf(big.environmentId), 512);
  });

  test("a node environment is not grown past its heap: a bigger one runs the task, with the heap it asked for", async () => {
    const small = (await h.post({ user: "w2", runtime: "node", entry: "small.mjs" }, "?wait=true")).body;
    assert.equal((await env(small.environmentId))?.state, "ready");
    // ~300 MiB of JS heap: more than a 256 MiB worker's heap limit (~204 MiB) can ever hold.
    const big = (
      await h.post(
        { user: "w2", runtime: "node", entry: "heap.mjs", resources: { memoryMb: 512 } },
        "?wait=true",
      )
    ).body;
    assert.equal(big.status, "succeeded", String(big.error));
    assert.notEqual(big.environmentId, small.environmentId, "a new worker, started with a bigger heap");
    assert.equal(big.cold, true);
    assert.equal(await memoryOf(big.environmentId), 512);
    // Started cold beside it, not in its place: the small one stays for the user's small tasks.
    assert.equal((await env(small.environmentId))?.state, "ready");
    const again = (await h.post({ user: "w2", runtime: "node", entry: "small.mjs" }, "?wait=true")).body;
    assert.deepEqual([again.environmentId, again.cold], [small.environmentId, false]);
  });

  test("an estimated need above the idle environment's size routes to a bigger environment", async () => {
    // Teach the estimator: three hog runs of v's in a 512 MiB environment (each peaks near 200 MiB;
    // w's run above does not count: estimates are per user and type).
    let bigEnv: unknown = null;
    for (let i = 0; i < 3; i++) {
      const r = (
        await h.post(
          { user: "v", runtime: "node", entry: "hog.mjs", resources: { memoryMb: 512 } },
          "?wait=true",
        )
      ).body;
      assert.equal(r.status, "succeeded", String(r.error));
      bigEnv = r.environmentId;
    }
    // While a fourth run (another type: it has an input) holds the 512 MiB environment, a small task
    // starts a default-sized one.
    const holding = h.post(
      { user: "v", runtime: "node", entry: "hog.mjs", resources: { memoryMb: 512 }, input: { wait: 1500 } },
      "?wait=true",
    );
    const small = (await h.post({ user: "v", runtime: "node", entry: "small.mjs" }, "?wait=true")).body;
    assert.equal((await holding).body.environmentId, bigEnv);
    assert.notEqual(small.environmentId, bigEnv);
    assert.equal(await memoryOf(small.environmentId), 256);
    // The hog again, with no memory request: its estimate (p95 ≈ 200 MiB + head-room) rules out 256 MiB.
    const hog = (await h.post({ user: "v", runtime: "node", entry: "hog.mjs" }, "?wait=true")).body;
    assert.equal(hog.status, "succeeded", String(hog.error));
    const ins = hog.insight as Rec;
    assert.ok((ins.routedMemoryMb as number) > 256, `routed for ${ins.routedMemoryMb} MiB`);
    assert.ok(((ins.estimate as Rec).samples as number) >= 3);
    assert.equal(hog.environmentId, bigEnv, "went to the bigger environment, not the small idle one");

    // Another user's run of the same code (same type name) is not sized by v's runs: it starts from
    // the runtime's pooled fit, and no memory estimate raises it yet.
    const other = (await h.post({ user: "x", runtime: "node", entry: "hog.mjs" }, "?wait=true")).body;
    assert.equal(other.taskType, hog.taskType, "the classifier gives the same code the same type name");
    const otherInsight = other.insight as Rec;
    assert.equal(otherInsight.estimate, null, `no samples of x's own: ${JSON.stringify(otherInsight)}`);
    assert.equal(otherInsight.routedMemoryMb, 256);
  });
});

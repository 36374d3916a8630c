import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { silentLogger } from "../../src/log/logger.js";
import { NODE_TASKS, PYTHON_TASKS, pidAlive, spec, tempDir, writeModules } from "./helpers.js";

const dir = tempDir();
const mods = writeModules(dir, { ...NODE_TASKS, ...PYTHON_TASKS });
after(() => rmSync(dir, { recursive: true, force: true }));

for (const useCgroups of ["auto", false] as const) {
  for (const runtime of ["node", "python3"] as const) {
    test(`a memory hog fails with oom and the environment exits (${runtime}, useCgroups: ${useCgroups})`, async (t) => {
      const b = new ProcessBackend({ logger: silentLogger(), workDir: join(dir, "work"), useCgroups });
      t.after(() => b.close());
      const exits: Array<[string, string]> = [];
      b.onExit((id, reason) => exits.push([id, reason]));
      const memoryMb = 128;
      const env = await b.create(`hog-${runtime}`, "u", spec(runtime, memoryMb));
      assert.equal(env.hardLimits, useCgroups === "auto" ? b.hardLimits : false);
      const file = mods[runtime === "node" ? "echo.mjs" : "echo.py"] as string;
      const r = await b.run(env.id, {
        taskId: "hog",
        modulePath: file,
        fn: "hog",
        input: {},
        timeoutMs: 60_000,
      });
      assert.equal(r.ok, false);
      assert.equal(r.failure, "oom", r.error);
      assert.match(r.error ?? "", /memory limit exceeded \(128 MiB\)/);
      assert.equal(exits.length, 1);
      assert.equal(exits[0]?.[0], env.id);
      assert.match(exits[0]?.[1] ?? "", /^oom: memory limit exceeded/);
      assert.equal(b.list().length, 0);
      assert.equal(pidAlive(env.pid as number), false);
    });
  }
}

test("a MemoryError raised inside a python task is reported as oom", async (t) => {
  const b = new ProcessBackend({ logger: silentLogger(), workDir: join(dir, "work") });
  t.after(() => b.close());
  const env = await b.create("py-memerr", "u", spec("python3"));
  const r = await b.run(env.id, {
    taskId: "m",
    modulePath: mods["echo.py"] as string,
    fn: "raise_memory_error",
    input: null,
    timeoutMs: 10_000,
  });
  assert.equal(r.failure, "oom");
  assert.match(r.error ?? "", /memory limit exceeded \(256 MiB\)/);
  assert.equal(b.list().length, 0);
});

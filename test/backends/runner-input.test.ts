import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { silentLogger } from "../../src/log/logger.js";
import { PYTHON_TASKS, pidAlive, spec, tempDir, writeModules } from "./helpers.js";

const dir = tempDir();
const mods = writeModules(dir, PYTHON_TASKS);
after(() => rmSync(dir, { recursive: true, force: true }));

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

// The server refuses such input (MAX_INPUT_DEPTH); this is the runner's own guard behind that cap.
test("python runner: a request nested past the recursion limit fails its task and the runner lives on", async (t) => {
  const b = new ProcessBackend({ logger: silentLogger(), workDir: join(dir, "work") });
  t.after(() => b.close());
  const env = await b.create("deep-py", "u", spec("python3"));
  const echo = mods["echo.py"] as string;
  const deep = await b.run(env.id, {
    taskId: "t-deep",
    modulePath: echo,
    fn: "fn",
    input: nested(1500),
    timeoutMs: 30_000,
  });
  assert.equal(deep.ok, false);
  assert.equal(deep.failure, "error", deep.error);
  assert.match(deep.error ?? "", /nested too deeply/);
  assert.ok(env.pid !== null && pidAlive(env.pid));
  const good = await b.run(env.id, {
    taskId: "t-after",
    modulePath: echo,
    fn: "fn",
    input: { n: 2 },
    timeoutMs: 30_000,
  });
  assert.equal(good.ok, true, good.error);
  assert.equal((good.output as { doubled: number }).doubled, 4);
});

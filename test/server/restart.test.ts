import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { eventually, writeTask } from "./harness.js";
import { serveProcess } from "./serve-process.js";

const serve = (dataDir: string) => serveProcess(dataDir, { FOREWARM_SHUTDOWN_GRACE_MS: "2000" });

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("a server restarted on the same data directory keeps every record; SIGTERM leaves no worker behind", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-restart-"));
  writeTask(path.join(dataDir, "tasks"), "echo.mjs", "export const handler = (x) => x;\n");
  writeTask(path.join(dataDir, "tasks"), "echo.py", "def handler(x):\n    return x\n");

  const first = await serve(dataDir);
  const ids: string[] = [];
  for (const [user, runtime, entry] of [
    ["a", "node", "echo.mjs"],
    ["b", "python3", "echo.py"],
    ["a", "node", "echo.mjs"],
  ] as const) {
    const res = await fetch(`${first.url}/v1/tasks?wait=true`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user, runtime, entry, input: { user } }),
    });
    const body = (await res.json()) as { id: string; status: string };
    assert.equal(body.status, "succeeded");
    ids.push(body.id);
  }
  const envs = (await (await fetch(`${first.url}/v1/environments`)).json()) as {
    environments: { pid: number }[];
  };
  const pids = envs.environments.map((e) => e.pid);
  assert.equal(pids.length, 2);
  assert.ok(pids.every(alive));

  const exited = new Promise<number | null>((r) => first.child.once("exit", (code) => r(code)));
  first.child.kill("SIGTERM");
  assert.equal(await exited, 0);
  await eventually(async () => (pids.some(alive) ? undefined : true));

  const second = await serve(dataDir);
  try {
    for (const id of ids) {
      const rec = (await (await fetch(`${second.url}/v1/tasks/${id}`)).json()) as { status: string };
      assert.equal(rec.status, "succeeded");
    }
  } finally {
    second.child.kill("SIGTERM");
    await new Promise((r) => second.child.once("exit", r));
  }
});

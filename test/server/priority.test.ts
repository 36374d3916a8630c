import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { eventually, startHarness, writeTask } from "./harness.js";

test("a waiting high-priority task holds back lower ones: room freed by a small task goes to it, not to later small ones", async () => {
  // Room for two 256 MiB environments; tasks hold their worker until their flag file exists.
  const h = await startHarness({
    cgroups: false,
    keepAliveMs: 600_000,
    capacity: { cpu: 8, memoryMb: 512, maxEnvironments: 8 },
    prediction: { enabled: false },
  });
  try {
    const flags = path.join(h.dir, "flags");
    fs.mkdirSync(flags);
    writeTask(
      h.tasksDir,
      "gated.mjs",
      `import fs from "node:fs";
export async function handler(x) {
  while (!fs.existsSync(${JSON.stringify(flags)} + "/" + x.flag)) await new Promise((r) => setTimeout(r, 20));
  return x.flag;
}
`,
    );
    const task = (user: string, flag: string, priority: number, memoryMb: number) => ({
      user,
      runtime: "node",
      entry: "gated.mjs",
      input: { flag },
      priority,
      resources: { memoryMb },
    });
    const status = async (id: unknown) => (await h.get(`/v1/tasks/${id}`)).body;
    const running = (id: unknown) => async () => ((await status(id)).status === "running" ? true : undefined);
    const low1 = (await h.post(task("low", "l1", 0, 256))).body.id;
    const low2 = (await h.post(task("low", "l2", 0, 256))).body.id;
    await eventually(running(low1));
    await eventually(running(low2));
    // The pool is full: the urgent task needs all of it, the small one behind it half.
    const high = (await h.post(task("high", "h", 9, 512))).body.id;
    const low3 = (await h.post(task("low", "l3", 0, 256))).body.id;
    // low1 ends: its idle environment would fit low3 at once, but not the urgent task (low2 still runs).
    fs.writeFileSync(path.join(flags, "l1"), "");
    await eventually(async () => ((await status(low1)).status === "succeeded" ? true : undefined));
    fs.writeFileSync(path.join(flags, "l2"), "");
    await eventually(running(high));
    fs.writeFileSync(path.join(flags, "h"), "");
    fs.writeFileSync(path.join(flags, "l3"), "");
    const ended = async (id: unknown) =>
      eventually(async () => {
        const r = await status(id);
        return r.status === "succeeded" ? r : undefined;
      });
    const [hi, lo] = [await ended(high), await ended(low3)];
    assert.ok(
      (hi.startedAt as number) <= (lo.startedAt as number),
      `the urgent task started first (${hi.startedAt} vs ${lo.startedAt})`,
    );
  } finally {
    await h.server.close();
  }
});

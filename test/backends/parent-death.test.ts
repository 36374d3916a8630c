import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { pidAlive, pidRunning, sleep, tempDir } from "./helpers.js";

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

test("runners exit when the server is killed abruptly (SIGKILL, no close())", async () => {
  const backendUrl = new URL("../../src/backends/process-backend.js", import.meta.url).href;
  const loggerUrl = new URL("../../src/log/logger.js", import.meta.url).href;
  const script = join(dir, "server.mjs");
  writeFileSync(
    script,
    `import { ProcessBackend } from ${JSON.stringify(backendUrl)};
import { silentLogger } from ${JSON.stringify(loggerUrl)};
const b = new ProcessBackend({ logger: silentLogger(), workDir: ${JSON.stringify(join(dir, "work"))} });
const r = { cpu: 1, memoryMb: 256, storageMb: 10, networkMbps: 1 };
const a = await b.create("n", "u", { runtime: "node", dependencies: [], resources: r });
const p = await b.create("p", "u", { runtime: "python3", dependencies: [], resources: r });
console.log(JSON.stringify([a.pid, p.pid]));
setInterval(() => {}, 1000);
`,
  );
  const server = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    server.stdout.once("data", (d: Buffer) => resolve(d.toString()));
    server.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
  });
  const pids = JSON.parse(line) as number[];
  assert.equal(pids.length, 2);
  assert.ok(pids.every(pidAlive));
  server.kill("SIGKILL");
  // Generous polling window; only "they do go away" is asserted, not how fast.
  for (let i = 0; i < 200 && pids.some(pidRunning); i++) await sleep(50);
  for (const pid of pids) assert.equal(pidRunning(pid), false, `runner ${pid} outlived its server`);
});

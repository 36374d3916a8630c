import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { pidAlive, pidRunning, sleep, tempDir } from "./helpers.js";

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const backendUrl = new URL("../../src/backends/process-backend.js", import.meta.url).href;
const loggerUrl = new URL("../../src/log/logger.js", import.meta.url).href;

/** Runs `script` as a server process; it prints the pids to watch as one JSON line. */
async function startServer(script: string): Promise<{ server: ChildProcess; pids: number[] }> {
  const server = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  // A failed assertion must not leave the server (and the test run) hanging.
  after(() => server.kill("SIGKILL"));
  const line = await new Promise<string>((resolve, reject) => {
    server.stdout?.once("data", (d: Buffer) => resolve(d.toString()));
    server.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
  });
  return { server, pids: JSON.parse(line) as number[] };
}

test("runners exit when the server is killed abruptly (SIGKILL, no close())", async () => {
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
  const { server, pids } = await startServer(script);
  assert.equal(pids.length, 2);
  assert.ok(pids.every(pidAlive));
  server.kill("SIGKILL");
  // Generous polling window; only "they do go away" is asserted, not how fast.
  for (let i = 0; i < 200 && pids.some(pidRunning); i++) await sleep(50);
  for (const pid of pids) assert.equal(pidRunning(pid), false, `runner ${pid} outlived its server`);
});

test("a runner stuck in a task, and processes tasks started, go when the server is killed abruptly", async () => {
  const tasks = join(dir, "tasks");
  mkdirSync(tasks, { recursive: true });
  writeFileSync(
    join(tasks, "spin.mjs"),
    `import { spawn } from "node:child_process";
export function leave() { return spawn("sleep", ["120"], { stdio: "ignore" }).pid; }
export function spin() { for (;;) {} }
`,
  );
  writeFileSync(
    join(tasks, "leave.py"),
    `import subprocess
def leave(_input):
    return subprocess.Popen(["sleep", "120"]).pid
`,
  );
  const script = join(dir, "stuck-server.mjs");
  writeFileSync(
    script,
    `import { ProcessBackend } from ${JSON.stringify(backendUrl)};
import { silentLogger } from ${JSON.stringify(loggerUrl)};
const b = new ProcessBackend({ logger: silentLogger(), workDir: ${JSON.stringify(join(dir, "work2"))}, useCgroups: false });
const r = { cpu: 1, memoryMb: 256, storageMb: 10, networkMbps: 1 };
const inv = (file, fn) => ({ taskId: fn, modulePath: ${JSON.stringify(tasks)} + "/" + file, fn, input: null, timeoutMs: 600000 });
const n = await b.create("n", "u", { runtime: "node", dependencies: [], resources: r });
const p = await b.create("p", "u", { runtime: "python3", dependencies: [], resources: r });
const s = await b.create("s", "u", { runtime: "node", dependencies: [], resources: r });
const left = [(await b.run("n", inv("spin.mjs", "leave"))).output, (await b.run("p", inv("leave.py", "leave"))).output];
void b.run("s", inv("spin.mjs", "spin"));
setTimeout(() => console.log(JSON.stringify([n.pid, p.pid, s.pid, ...left])), 300);
setInterval(() => {}, 1000);
`,
  );
  const { server, pids } = await startServer(script);
  assert.equal(pids.length, 5);
  assert.ok(pids.every(pidRunning), `all running before the kill: ${pids}`);
  server.kill("SIGKILL");
  for (let i = 0; i < 200 && pids.some(pidRunning); i++) await sleep(50);
  const names = [
    "node runner",
    "python runner",
    "node runner stuck in a loop",
    "node task's child",
    "python task's child",
  ];
  for (const [i, pid] of pids.entries())
    assert.equal(pidRunning(pid), false, `${names[i]} ${pid} outlived its server`);
});

test("a reaper that dies is started again and still ends a stuck runner when the server is killed", async () => {
  const tasks = join(dir, "tasks-reaper");
  mkdirSync(tasks, { recursive: true });
  writeFileSync(join(tasks, "spin.mjs"), "export function spin() { for (;;) {} }\n");
  const script = join(dir, "reaper-server.mjs");
  writeFileSync(
    script,
    `import { execFileSync } from "node:child_process";
import { ProcessBackend } from ${JSON.stringify(backendUrl)};
import { silentLogger } from ${JSON.stringify(loggerUrl)};
const b = new ProcessBackend({ logger: silentLogger(), workDir: ${JSON.stringify(join(dir, "work3"))}, useCgroups: false });
const r = { cpu: 1, memoryMb: 256, storageMb: 10, networkMbps: 1 };
const reaper = () => Number(execFileSync("pgrep", ["-P", String(process.pid), "-f", "forewarm-reaper$"]).toString().trim());
const n = await b.create("n", "u", { runtime: "node", dependencies: [], resources: r });
const first = reaper();
process.kill(first, "SIGKILL");
await new Promise((res) => setTimeout(res, 1500));
const s = await b.create("s", "u", { runtime: "node", dependencies: [], resources: r });
void b.run("s", { taskId: "spin", modulePath: ${JSON.stringify(join(tasks, "spin.mjs"))}, fn: "spin", input: null, timeoutMs: 600000 });
setTimeout(() => console.log(JSON.stringify([n.pid, s.pid, first, reaper()])), 300);
setInterval(() => {}, 1000);
`,
  );
  const { server, pids } = await startServer(script);
  const [runner, stuck, first, second] = pids as [number, number, number, number];
  assert.notEqual(second, first, "a second reaper runs");
  assert.ok([runner, stuck, second].every(pidRunning));
  server.kill("SIGKILL");
  for (let i = 0; i < 200 && [runner, stuck].some(pidRunning); i++) await sleep(50);
  assert.equal(pidRunning(stuck), false, `the stuck runner ${stuck} outlived its server`);
  assert.equal(pidRunning(runner), false, `runner ${runner} outlived its server`);
});

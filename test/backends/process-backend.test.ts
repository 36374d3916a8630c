import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, type TestContext, test } from "node:test";
import type { Invocation } from "../../src/backends/backend.js";
import { ProcessBackend, type ProcessBackendOptions } from "../../src/backends/process-backend.js";
import { silentLogger } from "../../src/log/logger.js";
import { NODE_TASKS, PYTHON_TASKS, pidAlive, sleep, spec, tempDir, writeModules } from "./helpers.js";

const dir = tempDir();
const mods = writeModules(dir, { ...NODE_TASKS, ...PYTHON_TASKS });
after(() => rmSync(dir, { recursive: true, force: true }));
const path = (name: string): string => mods[name] as string;

function backend(t: TestContext, options: Partial<ProcessBackendOptions> = {}): ProcessBackend {
  const b = new ProcessBackend({ logger: silentLogger(), workDir: join(dir, "work"), ...options });
  t.after(() => b.close());
  return b;
}

function inv(modulePath: string, fn: string, input: unknown, timeoutMs = 30_000): Invocation {
  return { taskId: `t-${fn}`, modulePath, fn, input, timeoutMs };
}

function exitsOf(b: ProcessBackend): Array<[string, string]> {
  const seen: Array<[string, string]> = [];
  b.onExit((id, reason) => seen.push([id, reason]));
  return seen;
}

test("node and python environments run tasks with JSON input and output", async (t) => {
  const b = backend(t);
  for (const [runtime, file] of [
    ["node", "echo.mjs"],
    ["python3", "echo.py"],
  ] as const) {
    const env = await b.create(`echo-${runtime}`, "alice", spec(runtime));
    assert.equal(env.user, "alice");
    assert.ok(env.pid !== null && pidAlive(env.pid));
    const warm = await b.warm(env.id, { modulePath: path(file), fn: "fn", input: { n: 1 } });
    assert.ok(warm.startMs > 0);
    const input = { n: 21, text: "ünïcode ✓" };
    const r = await b.run(env.id, inv(path(file), "fn", input));
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(r.output, { got: input, doubled: 42 });
    assert.equal(r.inputBytes, Buffer.byteLength(JSON.stringify(input)));
    assert.ok(r.outputBytes > 0);
    assert.ok(r.wallMs >= 0 && r.cpuMs >= 0 && r.peakMemoryMb > 0);
    const stats = await b.stats(env.id);
    assert.ok(stats && stats.rssMb > 0 && stats.cpuMs >= 0);
  }
  assert.deepEqual(
    b
      .list()
      .map((e) => e.id)
      .sort(),
    ["echo-node", "echo-python3"],
  );
});

test("a task does not see the server's environment (its secrets), only what its runtime needs", async (t) => {
  const dirEnv = tempDir();
  const envMods = writeModules(dirEnv, {
    "env.mjs": "export function fn(names) { return names.map((n) => process.env[n] ?? null); }\n",
    "env.py": "import os\ndef fn(names):\n    return [os.environ.get(n) for n in names]\n",
  });
  t.after(() => rmSync(dirEnv, { recursive: true, force: true }));
  // As a server started with its database URL in the environment would have.
  process.env.FOREWARM_HISTORY__URL = "postgres://admin:s3cret@db/forewarm";
  t.after(() => {
    delete process.env.FOREWARM_HISTORY__URL;
  });
  const b = backend(t);
  for (const [runtime, file] of [
    ["node", "env.mjs"],
    ["python3", "env.py"],
  ] as const) {
    const env = await b.create(`env-${runtime}`, "alice", spec(runtime));
    const r = await b.run(
      env.id,
      inv(envMods[file] as string, "fn", ["FOREWARM_HISTORY__URL", "PATH", "HOME"]),
    );
    assert.equal(r.ok, true, r.error);
    const [secret, pathVar, home] = r.output as (string | null)[];
    assert.equal(secret, null, `${runtime}: the server's secret is not passed on`);
    assert.equal(pathVar, process.env.PATH, `${runtime}: PATH is`);
    assert.equal(home, process.env.HOME ?? null, `${runtime}: HOME is (Python's user site-packages)`);
  }
});

test("a thrown error fails the run and leaves the environment usable", async (t) => {
  const b = backend(t);
  const exits = exitsOf(b);
  for (const [runtime, file] of [
    ["node", "echo.mjs"],
    ["python3", "echo.py"],
  ] as const) {
    const env = await b.create(`err-${runtime}`, "u", spec(runtime));
    const bad = await b.run(env.id, inv(path(file), "boom", { why: "testing" }));
    assert.equal(bad.ok, false);
    assert.equal(bad.failure, "error");
    assert.match(bad.error ?? "", /task failed on purpose: testing/);
    assert.doesNotMatch(bad.error ?? "", /runner\.(mjs|py)/, "runner frames are trimmed");
    const missing = await b.run(env.id, inv(path(file), "nope", {}));
    assert.equal(missing.failure, "error");
    assert.match(missing.error ?? "", /nope/);
    const good = await b.run(env.id, inv(path(file), "fn", { n: 2 }));
    assert.equal(good.ok, true, good.error);
    assert.deepEqual((good.output as { doubled: number }).doubled, 4);
  }
  assert.equal(exits.length, 0);
  assert.equal(b.list().length, 2);
});

test("a second concurrent run on one environment is rejected", async (t) => {
  const b = backend(t);
  const env = await b.create("busy", "u", spec("node"));
  const first = b.run(env.id, inv(path("echo.mjs"), "sleepy", { ms: 300 }));
  await assert.rejects(b.run(env.id, inv(path("echo.mjs"), "fn", { n: 1 })), /busy/);
  assert.equal((await first).ok, true);
});

test("a timeout kills the environment and reports failure timeout", async (t) => {
  const b = backend(t);
  const exits = exitsOf(b);
  const env = await b.create("slow", "u", spec("python3"));
  const r = await b.run(env.id, inv(path("echo.py"), "sleepy", { ms: 30_000 }, 300));
  assert.equal(r.failure, "timeout");
  assert.match(r.error ?? "", /timed out after 300 ms/);
  assert.ok(r.wallMs >= 300);
  assert.equal(b.list().length, 0);
  assert.equal(exits.length, 1);
  assert.match(exits[0]?.[1] ?? "", /^timeout/);
  assert.equal(pidAlive(env.pid as number), false);
});

test("SIGKILL of the worker mid-task resolves the run as crashed", async (t) => {
  const b = backend(t);
  const exits = exitsOf(b);
  for (const runtime of ["node", "python3"] as const) {
    const file = runtime === "node" ? "echo.mjs" : "echo.py";
    const env = await b.create(`victim-${runtime}`, "u", spec(runtime));
    const running = b.run(env.id, inv(path(file), "sleepy", { ms: 30_000 }));
    await sleep(200);
    process.kill(env.pid as number, "SIGKILL");
    const r = await running;
    assert.equal(r.ok, false);
    assert.equal(r.failure, "crashed");
    assert.match(r.error ?? "", /SIGKILL/);
  }
  assert.deepEqual(
    exits.map(([id, reason]) => [id, reason.split(":")[0]]),
    [
      ["victim-node", "crashed"],
      ["victim-python3", "crashed"],
    ],
  );
  assert.equal(b.list().length, 0);
});

test("an idle environment that dies is announced through onExit", async (t) => {
  const b = backend(t);
  const exits = exitsOf(b);
  const env = await b.create("idle-victim", "u", spec("python3"));
  process.kill(env.pid as number, "SIGKILL");
  for (let i = 0; i < 100 && exits.length === 0; i++) await sleep(20);
  assert.equal(exits[0]?.[0], "idle-victim");
  assert.match(exits[0]?.[1] ?? "", /^crashed: process killed by signal SIGKILL/);
  assert.equal(b.list().length, 0);
  await assert.rejects(b.run(env.id, inv(path("echo.py"), "fn", { n: 1 })), /unknown environment/);
});

test("an idle environment's death is announced before its scratch dir is cleaned up", async (t) => {
  // The cleanup can take long (a big scratch dir, a cgroup a leftover child keeps busy); the pool
  // must not route tasks to the dead worker meanwhile.
  const b = backend(t);
  const env = await b.create("early-news", "u", spec("node"));
  const r = await b.run(env.id, inv(path("writer.mjs"), "fn", { bytes: 1 }));
  const scratch = r.output as string;
  const scratchAtExit: boolean[] = [];
  b.onExit(() => scratchAtExit.push(existsSync(scratch)));
  process.kill(env.pid as number, "SIGKILL");
  for (let i = 0; i < 100 && scratchAtExit.length === 0; i++) await sleep(20);
  assert.deepEqual(scratchAtExit, [true], "announced once, with the scratch dir still there");
  for (let i = 0; i < 100 && existsSync(scratch); i++) await sleep(20);
  assert.equal(existsSync(scratch), false, "then removed");
});

test("python warm() imports a slow dependency once; later runs do not pay for it", async (t) => {
  const b = backend(t, { extraEnv: { PYTHONPATH: dir } });
  const env = await b.create("py-warm", "u", spec("python3", 256, ["decimal", "slowdep"]));
  const warm = await b.warm(env.id, { modulePath: path("uses_slowdep.py"), fn: "fn", input: 1 });
  // slowdep sleeps 0.5 s at import; time.sleep never returns early.
  assert.ok(warm.importMs >= 490, `importMs ${warm.importMs}`);
  const r = await b.run(env.id, inv(path("uses_slowdep.py"), "fn", 8));
  assert.equal(r.output, 50);
  assert.ok(r.wallMs < warm.importMs, `run ${r.wallMs} ms vs import ${warm.importMs} ms`);
  assert.ok(warm.warmupMs < warm.importMs);
});

test("warm() rejects naming a dependency that does not import", async (t) => {
  const b = backend(t);
  for (const runtime of ["node", "python3"] as const) {
    const env = await b.create(`baddep-${runtime}`, "u", spec(runtime, 256, ["no_such_module_xyz"]));
    await assert.rejects(b.warm(env.id, {}), /dependency "no_such_module_xyz" failed to import/);
  }
});

test("task writes are counted and land in the environment's scratch dir", async (t) => {
  if (!existsSync("/proc/self/io")) return t.skip("/proc/<pid>/io is not readable here");
  const b = backend(t);
  const env = await b.create("writer", "u", spec("node"));
  const r = await b.run(env.id, inv(path("writer.mjs"), "fn", { bytes: 2 * 1024 * 1024 }));
  assert.equal(r.ok, true, r.error);
  const scratch = r.output as string;
  assert.ok(scratch.startsWith(join(dir, "work")), scratch);
  assert.ok(r.storageBytesWritten >= 2 * 1024 * 1024, `wrote ${r.storageBytesWritten}`);
  await b.destroy(env.id);
  assert.equal(existsSync(scratch), false, "scratch dir removed on destroy");
});

for (const useCgroups of ["auto", false] as const) {
  test(`peak memory of a run is measured (useCgroups: ${useCgroups})`, async (t) => {
    const b = backend(t, { useCgroups });
    const env = await b.create("holder", "u", spec("node", 512));
    const r = await b.run(env.id, inv(path("echo.mjs"), "hold", { mb: 64 }));
    assert.equal(r.ok, true, r.error);
    assert.ok(r.peakMemoryMb >= 60, `peak ${r.peakMemoryMb} MiB`);
  });
}

test("resize rewrites the cgroup memory limit in place", async (t) => {
  const b = backend(t);
  if (!b.hardLimits) return t.skip("cgroup v1 is not writable here");
  const env = await b.create("resizable", "u", spec("python3", 128));
  assert.equal(env.hardLimits, true);
  // Read the limit through the worker's own /proc/<pid>/cgroup, independently of the backend.
  const cgroupOf = (pid: number): string => {
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => l.split(":")[1]?.split(",").includes("memory"));
    return join("/sys/fs/cgroup/memory", line?.split(":")[2] ?? "", "memory.limit_in_bytes");
  };
  const file = cgroupOf(env.pid as number);
  assert.equal(Number(readFileSync(file, "utf8")), 128 * 1024 * 1024);
  assert.equal(await b.resize(env.id, { cpu: 0.5, memoryMb: 256, storageMb: 100, networkMbps: 10 }), true);
  assert.equal(Number(readFileSync(file, "utf8")), 256 * 1024 * 1024);
  assert.equal(b.list()[0]?.spec.resources.memoryMb, 256);
  // Below current usage: refused, limit unchanged.
  assert.equal(await b.resize(env.id, { cpu: 0.5, memoryMb: 1, storageMb: 100, networkMbps: 10 }), false);
  assert.equal(Number(readFileSync(file, "utf8")), 256 * 1024 * 1024);
  const r = await b.run(env.id, inv(path("echo.py"), "fn", { n: 1 }));
  assert.equal(r.ok, true);
});

test("a node environment is not grown past the heap limit it was started with", async (t) => {
  const b = backend(t);
  if (!b.hardLimits) return t.skip("cgroup v1 is not writable here");
  const heap = join(dir, "heap.mjs");
  // JS heap, not a Buffer (those live outside V8's heap limit): 1 MiB of doubles per array.
  writeFileSync(
    heap,
    "export function fill({ mb }) { const k = []; for (let i = 0; i < mb; i++) k.push(new Array(131072).fill(i + 0.5)); return k.length; }\n",
  );
  const size = (memoryMb: number) => ({ cpu: 1, memoryMb, storageMb: 100, networkMbps: 10 });
  const env = await b.create("heap", "u", spec("node", 512));
  assert.equal(env.maxInPlaceMemoryMb, 512, "its heap limit covers 512 MiB, no more");
  // Shrinking and growing back within the heap limit set at spawn happen in place.
  assert.equal(await b.resize(env.id, size(256)), true);
  assert.equal(await b.resize(env.id, size(512)), true);
  const fits = await b.run(env.id, inv(heap, "fill", { mb: 300 }));
  assert.equal(fits.ok, true, fits.error);
  // Past it, refused: the worker's heap would stay at ~409 MiB while the environment claimed 1 GiB.
  assert.equal(await b.resize(env.id, size(1024)), false);
  assert.equal(b.list()[0]?.spec.resources.memoryMb, 512);
  // A python environment has no such limit.
  const py = await b.create("heap-py", "u", spec("python3", 128));
  assert.equal(py.maxInPlaceMemoryMb, null);
  assert.equal(await b.resize(py.id, size(1024)), true);
});

test("resize without cgroups returns false", async (t) => {
  const b = backend(t, { useCgroups: false });
  const env = await b.create("plain", "u", spec("node", 128));
  assert.equal(env.hardLimits, false);
  assert.equal(env.maxInPlaceMemoryMb, 0, "nothing in place without hard limits");
  assert.equal(await b.resize(env.id, { cpu: 1, memoryMb: 256, storageMb: 100, networkMbps: 10 }), false);
});

test("close() leaves no child process behind, even mid-run", async (t) => {
  const b = backend(t);
  const envs = await Promise.all([
    b.create("c1", "u", spec("node")),
    b.create("c2", "u", spec("python3")),
    b.create("c3", "u", spec("node")),
  ]);
  const pids = envs.map((e) => e.pid as number);
  assert.ok(pids.every(pidAlive));
  const running = b.run("c2", inv(path("echo.py"), "sleepy", { ms: 30_000 }));
  await sleep(100);
  await b.close();
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
  const r = await running;
  assert.equal(r.ok, false);
  assert.equal(b.list().length, 0);
  await assert.rejects(b.create("c4", "u", spec("node")), /closed/);
  await b.destroy("c1"); // idempotent after close
});

test("a task that floods the protocol pipe without a newline is killed as crashed; the server is not", async (t) => {
  const b = backend(t);
  const flood = writeModules(dir, {
    "flood.mjs": `
import { writeSync } from "node:fs";
export function flood() {
  const chunk = Buffer.alloc(1 << 20, 120);
  for (let i = 0; i < 80; i++) {
    let off = 0;
    while (off < chunk.length) {
      try { off += writeSync(3, chunk, off); } catch (e) { if (e.code !== "EAGAIN") throw e; }
    }
  }
  return "flooded";
}
`,
  })["flood.mjs"] as string;
  const env = await b.create("flooder", "mallory", spec("node"));
  const r = await b.run(env.id, inv(flood, "flood", {}));
  assert.equal(r.ok, false);
  assert.equal(r.failure, "crashed");
  assert.match(r.error ?? "", /protocol line over 64 MiB/);
  // Another tenant's environment on the same backend still runs.
  const other = await b.create("bystander", "alice", spec("node"));
  const ok = await b.run(other.id, inv(path("echo.mjs"), "fn", { n: 2 }));
  assert.equal(ok.ok, true);
  assert.deepEqual((ok.output as { doubled: number }).doubled, 4);
});

/** Alive and not a zombie (a container's pid 1 may not reap the orphans it inherits). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

for (const useCgroups of [false, "auto"] as const) {
  test(`processes a task started and left running end with its environment (cgroups ${useCgroups})`, async (t) => {
    const b = backend(t, { useCgroups });
    const fork = join(dir, "fork.mjs");
    writeFileSync(
      fork,
      "import { spawn } from 'node:child_process';\nexport function fn() { return spawn('sleep', ['60'], { stdio: 'ignore' }).pid; }\n",
    );
    const env = await b.create(`fork-${useCgroups}`, "alice", spec("node"));
    const r = await b.run(env.id, inv(fork, "fn", null));
    assert.equal(r.ok, true, r.error);
    const orphan = r.output as number;
    assert.ok(running(orphan), "the task's process runs after the task returned");
    await b.destroy(env.id);
    for (let i = 0; i < 100 && running(orphan); i++) await sleep(20);
    assert.equal(running(orphan), false, `process ${orphan} outlived its environment`);
  });
}

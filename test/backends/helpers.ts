/** Shared fixtures for the process backend tests: task modules on disk and small specs. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EnvironmentSpec, Runtime } from "../../src/core/types.js";

export function tempDir(prefix = "forewarm-backend-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes `files` (name → source) into `dir` and returns name → absolute path. */
export function writeModules(dir: string, files: Record<string, string>): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const [name, source] of Object.entries(files)) {
    const path = join(dir, name);
    writeFileSync(path, source);
    paths[name] = path;
  }
  return paths;
}

export function spec(
  runtime: Runtime,
  memoryMb = 256,
  dependencies: string[] = [],
  cpu = 1,
): EnvironmentSpec {
  return { runtime, dependencies, resources: { cpu, memoryMb, storageMb: 100, networkMbps: 10 } };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Node task modules used across tests. */
export const NODE_TASKS = {
  "echo.mjs": `
export function fn(input) {
  console.log("task noise on stdout must not break the protocol");
  return { got: input, doubled: input.n * 2 };
}
export function boom(input) {
  throw new Error("task failed on purpose: " + input.why);
}
export async function sleepy(input) {
  await new Promise((r) => setTimeout(r, input.ms));
  return "slept";
}
export function hold(input) {
  const b = Buffer.alloc(input.mb * 1024 * 1024, 1);
  return b.length;
}
export function hog() {
  const keep = [];
  // Bounded so a broken limit fails the test instead of eating the machine.
  for (let i = 0; i < 256; i++) keep.push(Buffer.alloc(8 * 1024 * 1024, 1));
  return keep.length;
}
`,
  "writer.mjs": `
import { writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
export function fn(input) {
  writeFileSync("out.bin", Buffer.alloc(input.bytes, 7));
  const fd = openSync("out.bin", "r+");
  fsyncSync(fd);
  closeSync(fd);
  return process.cwd();
}
`,
};

/** Python task modules used across tests. */
export const PYTHON_TASKS = {
  "echo.py": `
import time

def fn(x):
    print("task noise on stdout must not break the protocol")
    return {"got": x, "doubled": x["n"] * 2}

def boom(x):
    raise ValueError("task failed on purpose: " + x["why"])

def sleepy(x):
    time.sleep(x["ms"] / 1000.0)
    return "slept"

def hog(x):
    keep = []
    # Bounded so a broken limit fails the test instead of eating the machine.
    for _ in range(256):
        keep.append(bytearray(b"\\x01") * (8 * 1024 * 1024))
    return len(keep)

def raise_memory_error(x):
    raise MemoryError()
`,
  "slowdep.py": `
import time
time.sleep(0.5)
VALUE = 42
`,
  "uses_slowdep.py": `
import slowdep

def fn(x):
    return slowdep.VALUE + x
`,
};

/** Alive and not a zombie: orphans exit at once but may wait a while for init to reap them. */
export function pidRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

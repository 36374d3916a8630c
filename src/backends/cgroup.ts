/**
 * cgroup v1 hard limits for environments: one memory (and, where possible, cpu) cgroup per
 * environment under a per-backend parent inside this process's own cgroup, so that concurrent
 * servers and tests never touch each other's groups.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { mkdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ResourceVector } from "../core/types.js";

const MIB = 1024 * 1024;
const CFS_PERIOD_US = 100_000;

interface Hierarchy {
  /** Directory of this process's own cgroup in the hierarchy (mount point + own path). */
  ownDir: string;
}

/** Finds where a v1 controller is mounted and which cgroup of it this process is in. */
function findHierarchy(controller: "memory" | "cpu"): Hierarchy | string {
  const own = readFileSync("/proc/self/cgroup", "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .find((f) => f.length >= 3 && f[1]?.split(",").includes(controller));
  if (!own) return `no ${controller} controller in /proc/self/cgroup`;
  const ownPath = own.slice(2).join(":");
  // mountinfo: id parent major:minor root mountpoint options - fstype source superoptions
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const [fstype, , superOptions] = post.split(" ");
    if (fstype !== "cgroup" || !superOptions?.split(",").includes(controller)) continue;
    const fields = pre.split(" ");
    const root = fields[3] ?? "/";
    const mountPoint = fields[4];
    if (!mountPoint) continue;
    // In a cgroup namespace the mount root may be a prefix of our own path.
    const rel = root !== "/" && ownPath.startsWith(root) ? ownPath.slice(root.length) : ownPath;
    return { ownDir: join(mountPoint, rel) };
  }
  return `${controller} cgroup v1 hierarchy is not mounted`;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes empty parents left by servers that died without close(); best effort. */
function sweepStale(ownDir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(ownDir);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^forewarm-(\d+)-\d+$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const dir = join(ownDir, name);
    try {
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory()) rmdirSync(join(dir, child.name));
      }
      rmdirSync(dir);
    } catch {
      // Still has live processes or is not ours to remove: leave it.
    }
  }
}

let instanceSeq = 0;

/** The per-backend parent cgroups; created by `detect`, removed by `close`. */
export class CgroupHost {
  private constructor(
    readonly memoryParent: string,
    readonly cpuParent: string | null,
    /** Why cpu limits are not applied, when they are not. */
    readonly cpuUnavailable: string | null,
  ) {}

  /** Creates the parent cgroups and proves they are writable; returns the reason on failure. */
  static detect(): CgroupHost | string {
    try {
      const mem = findHierarchy("memory");
      if (typeof mem === "string") return mem;
      const name = `forewarm-${process.pid}-${instanceSeq++}`;
      sweepStale(mem.ownDir);
      const memoryParent = join(mem.ownDir, name);
      mkdirSync(memoryParent, { recursive: true });
      try {
        const probe = join(memoryParent, "probe");
        mkdirSync(probe);
        try {
          writeFileSync(join(probe, "memory.limit_in_bytes"), String(64 * MIB));
        } finally {
          rmdirSync(probe);
        }
      } catch (e) {
        rmdirSync(memoryParent);
        throw e;
      }
      let cpuParent: string | null = null;
      let cpuUnavailable: string | null = null;
      const cpu = findHierarchy("cpu");
      if (typeof cpu === "string") cpuUnavailable = cpu;
      else {
        try {
          sweepStale(cpu.ownDir);
          cpuParent = join(cpu.ownDir, name);
          mkdirSync(cpuParent, { recursive: true });
        } catch (e) {
          cpuParent = null;
          cpuUnavailable = errText(e);
        }
      }
      return new CgroupHost(memoryParent, cpuParent, cpuUnavailable);
    } catch (e) {
      return errText(e);
    }
  }

  /** Creates the environment's cgroups with its limits. `name` must be a safe path segment. */
  async createEnv(name: string, resources: ResourceVector): Promise<EnvCgroup> {
    const memoryDir = join(this.memoryParent, name);
    const cpuDir = this.cpuParent === null ? null : join(this.cpuParent, name);
    await mkdir(memoryDir);
    if (cpuDir) await mkdir(cpuDir);
    const cg = new EnvCgroup(memoryDir, cpuDir);
    try {
      if (!(await cg.setLimits(resources))) throw new Error("could not set cgroup limits");
    } catch (e) {
      await cg.remove();
      throw e;
    }
    return cg;
  }

  /** Removes the parents; environments must be removed first. */
  close(): void {
    for (const dir of [this.memoryParent, this.cpuParent]) {
      if (!dir) continue;
      try {
        rmdirSync(dir);
      } catch {
        // Busy (an environment is still being torn down) or gone: nothing more to do here.
      }
    }
  }
}

// Control files are read and written synchronously: like /proc they answer in microseconds,
// far below the cost of a thread-pool round trip, and they sit on the per-run path.
async function readNumber(path: string): Promise<number | null> {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

async function tryWrite(path: string, value: string): Promise<boolean> {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
}

/** One environment's memory (and cpu) cgroup. */
export class EnvCgroup {
  constructor(
    readonly memoryDir: string,
    readonly cpuDir: string | null,
  ) {}

  /** Files a new process writes its pid to, to join these cgroups. */
  procsFiles(): string[] {
    return [this.memoryDir, this.cpuDir]
      .filter((d): d is string => d !== null)
      .map((d) => join(d, "cgroup.procs"));
  }

  /**
   * Applies limits in place. Returns false when the new memory limit is below current usage
   * (the kernel would have to reclaim or kill; the pool should replace the environment instead).
   */
  async setLimits(resources: ResourceVector): Promise<boolean> {
    const bytes = Math.max(1, Math.round(resources.memoryMb)) * MIB;
    const usage = await readNumber(join(this.memoryDir, "memory.usage_in_bytes"));
    if (usage !== null && usage > bytes) return false;
    const limitFile = join(this.memoryDir, "memory.limit_in_bytes");
    const memswFile = join(this.memoryDir, "memory.memsw.limit_in_bytes");
    const current = await readNumber(limitFile);
    // memsw must stay ≥ the memory limit at every moment, so the write order depends on direction.
    if (current !== null && bytes > current) {
      await tryWrite(memswFile, String(bytes));
      if (!(await tryWrite(limitFile, String(bytes)))) return false;
    } else {
      if (!(await tryWrite(limitFile, String(bytes)))) return false;
      await tryWrite(memswFile, String(bytes));
    }
    if (this.cpuDir) {
      const quota = Math.max(1000, Math.round(resources.cpu * CFS_PERIOD_US));
      await writeFile(join(this.cpuDir, "cpu.cfs_period_us"), String(CFS_PERIOD_US));
      await writeFile(join(this.cpuDir, "cpu.cfs_quota_us"), String(quota));
    }
    return true;
  }

  async memoryLimitBytes(): Promise<number | null> {
    return readNumber(join(this.memoryDir, "memory.limit_in_bytes"));
  }

  /** Starts a new peak measurement (writing 0 resets the peak to current usage). */
  async resetPeak(): Promise<void> {
    await tryWrite(join(this.memoryDir, "memory.max_usage_in_bytes"), "0");
  }

  async peakBytes(): Promise<number | null> {
    return readNumber(join(this.memoryDir, "memory.max_usage_in_bytes"));
  }

  /** Times usage hit the limit (also rises when reclaim succeeded, so weaker than oomKills). */
  async failcnt(): Promise<number | null> {
    return readNumber(join(this.memoryDir, "memory.failcnt"));
  }

  /** OOM-killer kills in this cgroup; null on kernels without the counter. */
  async oomKills(): Promise<number | null> {
    try {
      const text = readFileSync(join(this.memoryDir, "memory.oom_control"), "utf8");
      const m = /^oom_kill\s+(\d+)/m.exec(text);
      return m?.[1] === undefined ? null : Number(m[1]);
    } catch {
      return null;
    }
  }

  /** Removes the cgroups; the processes in them must have exited. Retries briefly while busy. */
  async remove(): Promise<void> {
    for (const dir of [this.memoryDir, this.cpuDir]) {
      if (!dir) continue;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "ENOENT") break;
          // EBUSY right after exit: the kernel has not finished detaching the task yet.
          await new Promise((r) => setTimeout(r, 25));
        }
      }
    }
  }
}

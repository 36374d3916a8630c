/**
 * The processes and files of tenants' runners under tenant uids (tenant-uids.ts): starting a runner as
 * its tenant, and cleaning up after it without root ever walking a tree a tenant's process could be
 * changing under it — a symlink swapped in mid-walk would lead root's delete anywhere.
 */
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Logger } from "../log/logger.js";
import { claimUidRange, type TenantUidRange, TenantUids } from "./tenant-uids.js";

const RUNNERS_DIR = fileURLToPath(new URL("../../../runners/", import.meta.url));

/** setpriv's arguments that run the rest of a command line as `uid` (and gid `uid`), no other groups. */
export function setprivArgs(uid: number): string[] {
  return ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--no-new-privs", "--"];
}

/** The processes, zombies aside, whose real uid is in [from, to]: pid and uid of each. */
export function processesOfUids(from: number, to: number): { pid: number; uid: number }[] {
  const found: { pid: number; uid: number }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, "utf8");
    } catch {
      continue; // Gone meanwhile.
    }
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    // A zombie is dead already (waiting for its parent, or an init that does not reap, to collect it).
    if (uid >= from && uid <= to && !/^State:\s+Z/m.test(status)) found.push({ pid: Number(name), uid });
  }
  return found;
}

/** What runners/tenant-keeper.py does: kill the tenant's processes, empty a directory, or both. */
export type KeeperJob = "kill" | "rm" | "killrm";

/**
 * The keeper's command line: as root, python3 in isolated mode (no environment, no user site, no
 * script directory on sys.path) running runners/tenant-keeper.py, which drops to real and saved uid
 * `keeper` and effective uid `uid` — a process the tenant can neither signal nor trace (it could
 * stop a setpriv'd `kill` or `find` of its own uid, and with it the server's clean-up).
 */
function keeperArgs(job: KeeperJob, keeper: number, uid: number, dir?: string): string[] {
  return [
    "-I",
    join(RUNNERS_DIR, "tenant-keeper.py"),
    String(keeper),
    String(uid),
    job,
    ...(dir ? [dir] : []),
  ];
}

// The server's PATH finds its python3; nothing else of its environment. The keeper gives up emptying
// after 50 s (a tenant still writing, or slowing it: it can lower the priority of a process with its
// effective uid); the timeout is the bound behind that.
const KEEPER_OPTIONS = {
  cwd: "/",
  env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  timeout: 60_000,
  killSignal: "SIGKILL" as const,
};

const run = promisify(execFile);

/** Runs the keeper; how many entries of `dir` it could not remove (NaN: it failed). */
export async function keep(
  python: string,
  job: KeeperJob,
  keeper: number,
  uid: number,
  dir?: string,
): Promise<number> {
  try {
    const { stdout } = await run(python, keeperArgs(job, keeper, uid, dir), KEEPER_OPTIONS);
    return Number(stdout.trim());
  } catch {
    return Number.NaN;
  }
}

/** The keeper's kill(−1) for each of `uids` (keeper uid u + offset), in one process, at start. */
function sweepSync(python: string, offset: number, uids: readonly number[]): void {
  try {
    execFileSync(python, ["-I", join(RUNNERS_DIR, "tenant-keeper.py"), "sweep", String(offset)], {
      ...KEEPER_OPTIONS,
      input: `${uids.join("\n")}\n`,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (e) {
    throw new Error(
      `tenantUids: the tenant keeper could not kill the tenants' processes: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`,
    );
  }
}

/** keep, synchronously (at start, before anything is served). */
export function keepSync(python: string, job: KeeperJob, keeper: number, uid: number, dir?: string): number {
  try {
    return Number(
      execFileSync(python, keeperArgs(job, keeper, uid, dir), {
        ...KEEPER_OPTIONS,
        stdio: ["ignore", "pipe", "pipe"],
      })
        .toString()
        .trim(),
    );
  } catch (e) {
    throw new Error(
      `tenantUids: the tenant keeper (${python} runners/tenant-keeper.py) failed: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`,
    );
  }
}

/**
 * The interpreter `python3` (or `command`) is for a tenant: resolved as uid `uid` sees PATH (a pyenv
 * under /root is passed over), once, at start, when no tenant process runs that could tamper with the
 * lookup. The command itself if the lookup fails (the runner's start then says why).
 */
export function pythonForTenants(command: string, uid: number): string {
  // Node's own uid switch, not setpriv: its PATH search skips entries the uid cannot enter.
  try {
    const out = execFileSync(command, ["-c", "import sys; print(sys.executable)"], {
      uid,
      gid: uid,
      cwd: "/",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 10_000,
      killSignal: "SIGKILL",
    });
    return out.toString().trim() || command;
  } catch {
    return command;
  }
}

/**
 * Why a runner cannot start as tenant uid `uid` (undefined: it can): the Node binary does not run as
 * that uid, or the runners are not readable by it — typically a project under /root (mode 0700).
 */
export function tenantRunnerProblem(uid: number, nodeBinary: string, runnersDir: string): string | undefined {
  const runners = ["node-runner.mjs", "python-runner.py"].map((f) => join(runnersDir, f));
  try {
    execFileSync(
      nodeBinary,
      ["-e", "for (const f of process.argv.slice(1)) require('fs').accessSync(f, 4)", ...runners],
      {
        uid,
        gid: uid,
        cwd: "/",
        env: {},
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 30_000,
      },
    );
    return undefined;
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? "");
    const why = /EACCES[^\n]*/.exec(stderr)?.[0] ?? (e as Error).message.split("\n")[0];
    return `a runner cannot start as uid ${uid}: ${nodeBinary} must run and ${runners.join(" and ")} be readable for other users (${why})`;
  }
}

/** A process backend's tenant uids: each tenant's uid, the Python they run, the clean-up after them. */
export class TenantRunners {
  readonly uids: TenantUids;
  /** The Python tenants' runners run: resolved once at start, as a tenant sees PATH. */
  readonly python: string;
  /** Per uid: environments being created (a tenant with one is not swept). */
  private readonly creating = new Map<number, number>();
  /** Per uid: the keeper's jobs, one after another (one's kill(−1) would end another's walk). */
  private readonly jobs = new Map<number, Promise<unknown>>();
  private release: (() => void) | null;

  /**
   * Claims the range on this host; kills every process of every tenant (a crashed predecessor's), each
   * with the keeper's kill(−1), and refuses to start while any process of the range is left; then
   * empties `workDir` (a tenant's scratch directory with its own rights); checks that a runner can
   * start as a tenant. Throws, claiming nothing, if anything fails.
   */
  constructor(
    range: TenantUidRange,
    workDir: string,
    private readonly opts: {
      nodeBinary: string;
      pythonBinary: string;
      runnersDir: string;
      rootPython: string;
    },
    private readonly log: Logger,
    /** Whether the tenant of `uid` has an environment (the backend knows). */
    private readonly hasEnvironment: (uid: number) => boolean,
  ) {
    const { first, count } = range;
    const last = first + count - 1;
    const release = claimUidRange(range);
    try {
      this.uids = new TenantUids(range);
      // Every tenant's processes, each uid's in one kill(−1) (atomic against forks); then whatever a
      // scan still finds (a uid missing from the map), and a refusal if anything is left.
      let swept = [...new Set([...this.uids.all(), ...uidsRunning(first, last)])];
      for (let round = 0; round < 3 && swept.length > 0; round++) {
        sweepSync(opts.rootPython, count, swept);
        swept = uidsRunning(first, last);
      }
      const survivors = processesOfUids(first, last).map((p) => p.pid);
      if (survivors.length > 0)
        throw new Error(
          `tenantUids: processes of uids ${first}–${last} are still running after being killed (pids ${survivors.slice(0, 10).join(", ")}); stop them and start again`,
        );
      for (const entry of readdirSync(workDir)) {
        const path = join(workDir, entry);
        const owner = statSync(path).uid;
        if (owner < first || owner > last) {
          rmSync(path, { recursive: true, force: true }); // Never a tenant's.
          continue;
        }
        // Emptied with its owner's rights; what is left (a tree the tenant made unremovable to itself)
        // stays, named in the log, rather than keeping the server from starting.
        let left = Number.NaN;
        try {
          left = keepSync(opts.rootPython, "rm", this.keeperOf(owner), owner, path);
          rmdirSync(path);
        } catch {
          log.warn(
            { dir: path, uid: owner, left },
            "scratch directory left by an earlier run not fully removed",
          );
        }
      }
      // Tenants reach their own scratch directories through it, but may not list the others.
      chmodSync(workDir, 0o711);
      const problem = tenantRunnerProblem(first, opts.nodeBinary, opts.runnersDir);
      if (problem) throw new Error(`tenantUids: ${problem}`);
      this.python = pythonForTenants(opts.pythonBinary, first);
      log.info(
        { event: "tenant_uids", first, count, tenants: this.uids.size, python: this.python },
        `tenants' runners run as uids ${first}–${last}`,
      );
    } catch (e) {
      release();
      throw e;
    }
    this.release = release;
  }

  /** The keeper uid of tenant uid `uid`: the same place in the range's second half, never a tenant's. */
  private keeperOf(uid: number): number {
    return uid + this.uids.range.count;
  }

  /**
   * Runs `create`, an environment of `uid` being created, after the keeper's jobs for it so far. If
   * the tenant is left with no environment (the create failed while its last one ended), what its
   * tasks left running is killed then.
   */
  async whileCreating<T>(uid: number, create: () => Promise<T>): Promise<T> {
    this.creating.set(uid, (this.creating.get(uid) ?? 0) + 1);
    try {
      // A kill decided before this create must not meet its runner.
      await this.jobs.get(uid);
      return await create();
    } finally {
      const n = this.creating.get(uid)! - 1;
      if (n > 0) this.creating.set(uid, n);
      else {
        this.creating.delete(uid);
        if (!this.hasEnvironment(uid)) void this.queue(uid, "kill", undefined, this.log);
      }
    }
  }

  /**
   * After an environment of `uid` ended: once the tenant has no other (`others`) and none being
   * created, what its tasks left running is killed; the scratch directory is emptied with the tenant's
   * rights by the keeper, and removed by root once empty. `removeScratch(dir, uid, true)` leaves the
   * tenant's processes be (a create that failed).
   */
  removeScratch(dir: string, uid: number, others: boolean, log: Logger): Promise<void> {
    return this.queue(uid, !others && !this.creating.has(uid) ? "killrm" : "rm", dir, log);
  }

  /** Runs a keeper job for `uid` after those before it (one's kill(−1) would end another's walk). */
  private async queue(uid: number, job: KeeperJob, dir: string | undefined, log: Logger): Promise<void> {
    const previous = this.jobs.get(uid);
    const done = (async () => {
      await previous;
      const left = await keep(this.opts.rootPython, job, this.keeperOf(uid), uid, dir);
      if (dir === undefined) return;
      try {
        rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT")
          log.warn({ dir, uid, left }, "scratch directory left (removed at the next start)");
      }
    })();
    this.jobs.set(uid, done);
    await done;
    if (this.jobs.get(uid) === done) this.jobs.delete(uid);
  }

  /** Gives up the claim on the range. */
  close(): void {
    this.release?.();
    this.release = null;
  }
}

/** The uids in [from, to] that have a process running. */
function uidsRunning(from: number, to: number): number[] {
  return [...new Set(processesOfUids(from, to).map((p) => p.uid))];
}

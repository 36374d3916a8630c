/**
 * The processes and files of tenants' runners under tenant uids (tenant-uids.ts): starting a runner as
 * its tenant, and cleaning up after it without root ever walking a tree a tenant's process could be
 * changing under it — a symlink swapped in mid-walk would lead root's delete anywhere.
 */
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "../log/logger.js";
import { claimUidRange, type TenantUidRange, TenantUids } from "./tenant-uids.js";

/** setpriv's arguments that run the rest of a command line as `uid` (and gid `uid`), no other groups. */
export function setprivArgs(uid: number): string[] {
  return ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--no-new-privs", "--"];
}

/**
 * SIGKILLs every process whose real uid is in [from, to] — at start, what a crashed predecessor's
 * tenants left — pass after pass until one finds none (a process forked during a pass is caught by the
 * next). Synchronous, so no runner starts meanwhile. Returns how many it killed.
 */
export function killUids(from: number, to: number): number {
  let killed = 0;
  for (let pass = 0; pass < 20; pass++) {
    let now = 0;
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
      if (uid >= from && uid <= to && !/^State:\s+Z/m.test(status)) {
        try {
          process.kill(Number(name), "SIGKILL");
          now++;
        } catch {
          // Gone meanwhile.
        }
      }
    }
    killed += now;
    if (now === 0) break;
  }
  return killed;
}

/** Runs `argv` as tenant `uid`: no groups, no new privileges, none of the server's variables. */
function asTenant(uid: number, argv: string[]): [string, string[], { cwd: string; env: NodeJS.ProcessEnv }] {
  const [cmd, ...args] = [...setprivArgs(uid), ...argv];
  return [cmd!, args, { cwd: "/", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } }];
}

/**
 * SIGKILLs every process of tenant `uid` in one kill(−1) as that uid: what its tasks left running
 * outside their runners, once it has no environment. The kernel walks the process list in one go, so
 * a process that forks meanwhile is not missed. Synchronous: no runner of the uid starts meanwhile.
 */
export function killTenant(uid: number): void {
  const [cmd, args, options] = asTenant(uid, ["/bin/sh", "-c", "kill -KILL -1 2>/dev/null; exit 0"]);
  try {
    execFileSync(cmd, args, { ...options, stdio: "ignore", timeout: 30_000, killSignal: "SIGKILL" });
  } catch {
    // Nothing to kill, or setpriv gone: the scratch removal below is still done with the tenant's rights.
  }
}

const run = promisify(execFile);

/**
 * Removes a tenant's scratch directory: the contents as the tenant's uid — root following a symlink
 * the tenant swapped in mid-walk would delete what it points to — then the emptied directory as root.
 * False if something was left (a subdirectory the tenant made unreadable: removed at the next start).
 */
export async function removeAsTenant(dir: string, uid: number): Promise<boolean> {
  const [cmd, args, options] = asTenant(uid, ["find", dir, "-mindepth", "1", "-delete"]);
  try {
    await run(cmd, args, { ...options, timeout: 120_000, killSignal: "SIGKILL" });
  } catch {
    // Partly done: rmdir below tells.
  }
  try {
    rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT";
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
  private release: (() => void) | null;

  /**
   * Claims the range on this host, kills every process of it (a crashed predecessor's tenants') and
   * only then removes what `workDir` holds — nothing of a tenant runs, none can start meanwhile (this
   * is synchronous) — and checks that a runner can start as a tenant. Throws, claiming nothing, if not.
   */
  constructor(
    range: TenantUidRange,
    workDir: string,
    opts: { nodeBinary: string; pythonBinary: string; runnersDir: string },
    log: Logger,
  ) {
    const { first, count } = range;
    const release = claimUidRange(range);
    try {
      this.uids = new TenantUids(range);
      const killed = killUids(first, first + count - 1);
      for (const entry of readdirSync(workDir))
        rmSync(join(workDir, entry), { recursive: true, force: true });
      // Tenants reach their own scratch directories through it, but may not list the others.
      chmodSync(workDir, 0o711);
      const problem = tenantRunnerProblem(first, opts.nodeBinary, opts.runnersDir);
      if (problem) throw new Error(`tenantUids: ${problem}`);
      this.python = pythonForTenants(opts.pythonBinary, first);
      log.info(
        { event: "tenant_uids", first, count, tenants: this.uids.size, killed, python: this.python },
        `tenants' runners run as uids ${first}–${first + count - 1}`,
      );
    } catch (e) {
      release();
      throw e;
    }
    this.release = release;
  }

  /** Runs `create`, an environment of `uid` being created, counted meanwhile. */
  async whileCreating<T>(uid: number, create: () => Promise<T>): Promise<T> {
    this.creating.set(uid, (this.creating.get(uid) ?? 0) + 1);
    try {
      return await create();
    } finally {
      const n = this.creating.get(uid)! - 1;
      if (n > 0) this.creating.set(uid, n);
      else this.creating.delete(uid);
    }
  }

  /**
   * After an environment of `uid` ended: once the tenant has no other (`others`) and none being
   * created, what its tasks left running is killed; the scratch directory goes with the tenant's rights.
   */
  async removeScratch(dir: string, uid: number, others: boolean, log: Logger): Promise<void> {
    if (!others && !this.creating.has(uid)) killTenant(uid);
    if (!(await removeAsTenant(dir, uid)))
      log.warn({ dir, uid }, "scratch directory left (removed at the next start)");
  }

  /** Gives up the claim on the range. */
  close(): void {
    this.release?.();
    this.release = null;
  }
}

/**
 * Tenant OS users (`tenantUids`): each tenant's runners run as a uid of its own instead of as the
 * server's user, so a tenant's code cannot signal the server or another tenant's runners, nor read
 * their working directories or the server's files. Needs a server started as root (it drops to the
 * tenant's uid per runner with setpriv, after joining the environment's cgroups as root); the uids need
 * no /etc/passwd entries, and must not be anyone's: a range that holds an existing user's, group's or
 * subordinate id is refused. A tenant keeps its uid across restarts (the map is kept in a file), so
 * what it left in shared places (/tmp, /dev/shm) never becomes another tenant's.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { replaceFile } from "../core/replace-file.js";

export interface TenantUidRange {
  /** The first uid handed to a tenant; tenants get first, first + 1, … in the order they first run. */
  first: number;
  count: number;
  /** Where tenant → uid is kept across restarts; absent: for this process only. */
  file?: string;
}

/** Largest uid handed out: Node's child_process takes uids as 32-bit signed integers. */
export const MAX_TENANT_UID = 2 ** 31 - 2;

/** Tenant → uid, first come first served within the range; kept in `range.file`. */
export class TenantUids {
  private readonly byUser = new Map<string, number>();
  private readonly used = new Set<number>();
  private next: number;

  constructor(readonly range: TenantUidRange) {
    this.next = range.first;
    if (range.file && existsSync(range.file)) this.load(range.file);
  }

  uidFor(user: string): number {
    let uid = this.byUser.get(user);
    if (uid !== undefined) return uid;
    const last = this.range.first + this.range.count - 1;
    while (this.used.has(this.next)) this.next++;
    if (this.next > last)
      throw new Error(
        `tenantUids: all ${this.range.count} uids from ${this.range.first} are taken by other tenants; raise tenantUids.count`,
      );
    uid = this.next;
    if (this.range.file) {
      // Kept before it is used (and only then taken): a restart never hands it to someone else.
      const map = { ...Object.fromEntries(this.byUser), [user]: uid };
      replaceFile(this.range.file, `${JSON.stringify(map, null, 1)}\n`);
    }
    this.next++;
    this.byUser.set(user, uid);
    this.used.add(uid);
    return uid;
  }

  /** Every uid given to a tenant so far. */
  all(): number[] {
    return [...this.used];
  }

  /** Tenants given a uid so far. */
  get size(): number {
    return this.byUser.size;
  }

  private load(file: string): void {
    const bad = (why: string) =>
      new Error(
        `tenantUids: ${file}: ${why}; it maps tenants to uids across restarts — fix it or remove it to start afresh`,
      );
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw bad(`not JSON (${(e as Error).message})`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw bad("not an object of tenant → uid");
    const last = this.range.first + this.range.count - 1;
    for (const [user, uid] of Object.entries(parsed)) {
      if (typeof uid !== "number" || !Number.isInteger(uid) || uid < this.range.first || uid > last)
        throw bad(
          `${JSON.stringify(user)} has uid ${JSON.stringify(uid)}, outside ${this.range.first}–${last}`,
        );
      if (this.used.has(uid)) throw bad(`uid ${uid} is given to two tenants`);
      this.byUser.set(user, uid);
      this.used.add(uid);
    }
  }
}

/**
 * The uids a range takes: its tenants' [first, first + count) and as many keeper uids after them
 * (tenant-runners.ts: the clean-up of tenant u runs as real uid u + count, which u cannot signal).
 */
export function uidSpan(range: TenantUidRange): { first: number; last: number } {
  return { first: range.first, last: range.first + 2 * range.count - 1 };
}

/**
 * Claims the range's uids on this host for this process, so that a second server with an overlapping
 * range — whose start would kill this one's tenants' processes — is refused: a file per claim in `dir`
 * naming the span, the pid and its start time (a pid reused by another process is no claim). Written
 * first and then checked, so of two servers starting at once neither passes. Returns the release.
 */
export function claimUidRange(range: TenantUidRange, dir = "/run/forewarm-tenant-uids"): () => void {
  const { first, last } = uidSpan(range);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const own = `${first}-${last}.${process.pid}.${startTime(process.pid)}`;
  writeFileSync(`${dir}/${own}`, "");
  const release = () => rmSync(`${dir}/${own}`, { force: true });
  for (const name of readdirSync(dir)) {
    const m = /^(\d+)-(\d+)\.(\d+)\.(\d+)$/.exec(name);
    if (!m || name === own) continue;
    const [from, to, pid] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (startTime(pid) !== m[4]) {
      rmSync(`${dir}/${name}`, { force: true }); // Its process is gone.
      continue;
    }
    if (from <= last && to >= first) {
      release();
      throw new Error(
        `tenantUids: uids ${first}–${last} (tenants and their keepers) overlap ${from}–${to}, which process ${pid} (another forewarm server) uses on this host; give each server a range of its own`,
      );
    }
  }
  return release;
}

/** A process's start time (clock ticks after boot, /proc/<pid>/stat field 22); undefined if it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Id ranges of the users (or groups) in a passwd/group file (field 3) or a subuid/subgid file. */
function rangesIn(file: string, sub: boolean): Array<{ name: string; from: number; to: number }> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: Array<{ name: string; from: number; to: number }> = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (sub && f.length >= 3 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[2]!))
      out.push({ name: f[0]!, from: Number(f[1]), to: Number(f[1]) + Number(f[2]) - 1 });
    else if (!sub && f.length >= 3 && /^\d+$/.test(f[2]!))
      out.push({ name: f[0]!, from: Number(f[2]), to: Number(f[2]) });
  }
  return out;
}

export interface IdFiles {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

const SYSTEM_ID_FILES: IdFiles = {
  passwd: "/etc/passwd",
  group: "/etc/group",
  subuid: "/etc/subuid",
  subgid: "/etc/subgid",
};

/**
 * Why tenant uids cannot be used here (undefined: they can): the server is not root, setpriv is
 * missing, the range goes past the largest uid, or it holds an existing user's, group's or subordinate
 * (container) id. Only local files are read: ids from a directory service are not seen.
 */
export function tenantUidProblem(
  range: TenantUidRange,
  files: IdFiles = SYSTEM_ID_FILES,
): string | undefined {
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    return `the server runs as uid ${process.getuid()}, not root: it cannot start runners as other users`;
  const { last } = uidSpan(range);
  if (last > MAX_TENANT_UID)
    return `uids ${range.first}–${last} (tenants and their keepers) go past ${MAX_TENANT_UID}, the largest usable uid`;
  try {
    execFileSync("setpriv", ["--version"], { stdio: "ignore", timeout: 10_000 });
  } catch (e) {
    return `setpriv (util-linux) is needed to start runners as tenant uids: ${(e as Error).message}`;
  }
  for (const [kind, file, sub] of [
    ["user", files.passwd, false],
    ["group", files.group, false],
    ["subordinate uids of", files.subuid, true],
    ["subordinate gids of", files.subgid, true],
  ] as const) {
    const taken = rangesIn(file, sub).find((e) => e.from <= last && e.to >= range.first);
    if (taken)
      return `uids ${range.first}–${last} overlap the existing ${kind} ${taken.name} (${taken.from === taken.to ? taken.from : `${taken.from}–${taken.to}`}, ${file}); choose tenantUids.first outside every user's, group's and subordinate id`;
  }
  return undefined;
}

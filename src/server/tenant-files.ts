/**
 * The data directory under tenant uids (`tenantUids`): tenants' runners, each its own uid, reach
 * their scratch directories (<dataDir>/envs) and inline code (<dataDir>/code) but nothing else of the
 * server's — the history database, task insight, logs. Everything the server creates from here on is
 * private to it (umask 077), and what is already there is made so.
 */
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../config/config-error.js";

/** Directories under the data directory that tenants pass through (0711: they cannot list them). */
export const TENANT_DIRS = ["envs", "code"] as const;

/** What the server itself keeps in the data directory (and its write-then-rename temporaries). */
const SERVER_FILES = /^(history\.db(-wal|-shm|-journal)?|classifier\.json|tenant-uids\.json)(\.\d+\.tmp)?$/;

/**
 * Checks that tenant uids can reach the data directory (every directory above it searchable by
 * others), then makes the server's own files private. `tasksDir` (the operator's task modules, which
 * tenants import) is left as it is.
 */
export function prepareTenantFiles(dataDir: string, tasksDir: string): void {
  const tasks = path.resolve(tasksDir);
  const closed = closedDirectory(path.dirname(dataDir));
  if (closed)
    throw new ConfigError(
      "tenantUids",
      `${closed} is not searchable by other users: tenants' runners could not reach their working directories under dataDir ${dataDir}; allow it (chmod o+x) or choose a dataDir elsewhere`,
    );
  // Tasks import the operator's modules from it (one that does not exist yet is checked when it does not).
  const closedTasks = fs.existsSync(tasks) ? closedDirectory(tasks) : undefined;
  if (closedTasks)
    throw new ConfigError(
      "tenantUids",
      `${closedTasks} is not searchable by other users: tenants' runners could not import modules from tasksDir ${tasks}`,
    );
  // The tasks directory, or one holding it: left as the operator made it.
  const holdsTasks = (name: string) => {
    const p = path.join(dataDir, name);
    return p === tasks || tasks.startsWith(p + path.sep);
  };
  const entries = fs.existsSync(dataDir) ? fs.readdirSync(dataDir, { withFileTypes: true }) : [];
  // A data directory of forewarm's own: a mistaken one (/, /srv) is not made 0711 and private.
  const foreign = entries
    .map((e) => e.name)
    .filter(
      (n) => !SERVER_FILES.test(n) && !(TENANT_DIRS as readonly string[]).includes(n) && !holdsTasks(n),
    );
  if (foreign.length > 0)
    throw new ConfigError(
      "tenantUids",
      `dataDir ${dataDir} holds what forewarm did not put there (${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? ", …" : ""}); tenant uids make a data directory private to the server, so it must be forewarm's own`,
    );
  // Files the server creates from now on (SQLite's database, its WAL, insight) are its own.
  process.umask(0o077);
  fs.chmodSync(dataDir, 0o711);
  for (const name of TENANT_DIRS) {
    const dir = path.join(dataDir, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o711);
  }
  for (const entry of entries) {
    if (!entry.isFile() || !SERVER_FILES.test(entry.name) || holdsTasks(entry.name)) continue;
    const file = path.join(dataDir, entry.name);
    const mode = fs.statSync(file).mode & 0o7777;
    if (mode & 0o077) fs.chmodSync(file, mode & 0o700);
  }
}

/** The first of `dir` and the directories above it that others cannot search (o+x), with its mode. */
function closedDirectory(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) return `${d} (mode ${(mode & 0o777).toString(8).padStart(4, "0")})`;
    if (d === path.dirname(d)) return undefined;
  }
}

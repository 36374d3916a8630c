/** Builds the command line of a runner process for one runtime and starts it. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { Runtime } from "../core/types.js";
import { RunnerProcess } from "./runner-process.js";
import { setprivArgs } from "./tenant-runners.js";

export interface RunnerLaunch {
  runtime: Runtime;
  memoryMb: number;
  /** cgroup.procs files the process must join before the runtime starts. */
  cgroupProcs: string[];
  cwd: string;
  env: Record<string, string>;
  nodeBinary: string;
  pythonBinary: string;
  runnersDir: string;
  /** The tenant's uid (tenant-uids.ts) the runtime runs as, after joining the cgroups; undefined = the server's. */
  uid?: number;
}

/**
 * Joins the cgroups from a shell and then execs the runtime, so that the process is limited from
 * its first allocation (the pid stays the same across exec). The paths are positional arguments,
 * never interpolated into the script.
 */
const JOIN_AND_EXEC =
  'n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do echo $$ > "$1" || exit 97; shift; i=$((i+1)); done; exec "$@"';

/** Node's heap limit a little under the environment's, so heap growth fails as a V8 OOM first. */
export function nodeHeapLimitMb(memoryMb: number): number {
  return Math.max(16, Math.floor(memoryMb * 0.8));
}

/** The largest environment memory (MiB) whose Node heap limit is at most `heapMb`. */
export function nodeMemoryForHeap(heapMb: number): number {
  let m = Math.floor((heapMb + 1) / 0.8) + 1;
  while (m > 0 && nodeHeapLimitMb(m) > heapMb) m--;
  return m;
}

/**
 * The server's variables a task runtime is given: where programs, libraries and packages are (PATH,
 * HOME for Python's user site-packages, NODE_PATH, PYTHONHOME/PYTHONUSERBASE, VIRTUAL_ENV,
 * LD_LIBRARY_PATH), CA certificates, the user, locale and time zone. Not the rest: secrets live there.
 */
const RUNTIME_VARIABLES = new Set([
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "LANG",
  "LANGUAGE",
  "TZ",
  "NODE_PATH",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "LD_LIBRARY_PATH",
  "PYTHONHOME",
  "PYTHONUSERBASE",
  "VIRTUAL_ENV",
  "CONDA_PREFIX",
]);

export function runtimeEnvironment(from: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(from))
    if (v !== undefined && (RUNTIME_VARIABLES.has(k) || k.startsWith("LC_"))) out[k] = v;
  return out;
}

export function spawnRunner(launch: RunnerLaunch): RunnerProcess {
  const runtimeArgv =
    launch.runtime === "node"
      ? [
          launch.nodeBinary,
          `--max-old-space-size=${nodeHeapLimitMb(launch.memoryMb)}`,
          join(launch.runnersDir, "node-runner.mjs"),
        ]
      : [launch.pythonBinary, join(launch.runnersDir, "python-runner.py")];
  // Not the server's whole environment: it holds the server's secrets (the history's database URL,
  // cloud credentials), which a tenant's code could read. Only what a runtime needs passes on.
  const env: NodeJS.ProcessEnv = { ...runtimeEnvironment(process.env), ...launch.env };
  if (launch.uid !== undefined) {
    // The server's home and name are not the tenant's (HOME is set by the caller).
    delete env.USER;
    delete env.LOGNAME;
    // Dropped last, so the cgroups are joined as root; no_new_privs: no setuid program gets them back.
    runtimeArgv.unshift(...setprivArgs(launch.uid));
  }
  if (launch.cgroupProcs.length === 0) {
    const [command, ...args] = runtimeArgv;
    return RunnerProcess.spawn(command as string, args, { cwd: launch.cwd, env });
  }
  return RunnerProcess.spawn(
    "/bin/sh",
    [
      "-c",
      JOIN_AND_EXEC,
      "forewarm-runner",
      String(launch.cgroupProcs.length),
      ...launch.cgroupProcs,
      ...runtimeArgv,
    ],
    { cwd: launch.cwd, env },
  );
}

/**
 * The interpreter a `python3` command really runs. Launchers such as pyenv shims are shell scripts
 * that cost ~100 ms per start; asking the interpreter for sys.executable once removes that from
 * every cold start without changing which Python runs. Falls back to the command itself.
 */
const resolvedPython = new Map<string, Promise<string>>();

export function resolvePythonExecutable(command: string): Promise<string> {
  // Cached per process: the answer does not change while the server runs.
  let resolved = resolvedPython.get(command);
  if (!resolved) {
    resolved = new Promise((resolve) => {
      execFile(command, ["-c", "import sys; print(sys.executable)"], { timeout: 10_000 }, (err, stdout) => {
        const path = stdout?.toString().trim();
        resolve(!err && path ? path : command);
      });
    });
    resolvedPython.set(command, resolved);
  }
  return resolved;
}

/**
 * Kills the process groups of a backend's runners if the server dies without closing them (SIGKILL,
 * OOM kill, a crash in native code). A runner notices its server's death when its stdin closes, but
 * only if its event loop is free: a Node task stuck in a loop never reads it, and processes a task
 * started outlive it either way. The reaper is one small shell per backend, in its own process group,
 * that reads "+pgid" / "-pgid" lines from the server and, when its stdin ends, kills every group
 * still listed. On a graceful close the list is empty by then, so it kills nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";

/**
 * POSIX sh (dash here): the groups are a space-separated list. Signals that stop a whole terminal or
 * service are ignored: the reaper must outlive the server to do its job, and leaves on stdin's end.
 */
const REAPER_SCRIPT = `trap '' HUP INT TERM
groups=' '
while read -r op pid; do
  case $op in
    +) groups="$groups$pid " ;;
    -) case $groups in *" $pid "*) groups="\${groups%%" $pid "*} \${groups#*" $pid "}" ;; esac ;;
  esac
done
for pid in $groups; do kill -9 -"$pid" 2>/dev/null; done
exit 0`;

export class GroupReaper {
  private child: ChildProcess | null = null;
  private stdin: Writable | null = null;

  /** Starts the reaper; without a usable /bin/sh the server runs on without one (returns false). */
  private start(): boolean {
    if (this.child) return this.stdin !== null;
    const child = spawn("/bin/sh", ["-c", REAPER_SCRIPT, "forewarm-reaper"], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    });
    this.child = child;
    this.stdin = child.stdin;
    // A reaper that could not start or died is only a lost safety net, never a server failure.
    child.on("error", () => {
      this.stdin = null;
    });
    child.on("exit", () => {
      this.stdin = null;
    });
    child.stdin?.on("error", () => {});
    // Neither the process nor its pipe keeps the server's event loop alive.
    child.unref();
    (child.stdin as Socket | null)?.unref();
    return true;
  }

  /** Lists a runner's process group (its pid: runners are group leaders). */
  watch(pgid: number | null): void {
    if (pgid === null || !this.start()) return;
    this.stdin?.write(`+ ${pgid}\n`);
  }

  /** Takes a group off the list once its runner has exited and the group was killed. */
  forget(pgid: number | null): void {
    if (pgid === null) return;
    this.stdin?.write(`- ${pgid}\n`);
  }

  /** Ends the reaper: it kills what is still listed (nothing, after a graceful close) and exits. */
  close(): void {
    this.stdin?.end();
    this.stdin = null;
  }

  /** The reaper's pid (tests). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }
}

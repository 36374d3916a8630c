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

/** A reaper that exits unasked is started again, at most once per this many ms. */
const RESTART_AFTER_MS = 1000;

export class GroupReaper {
  private child: ChildProcess | null = null;
  private stdin: Writable | null = null;
  /** The groups listed, kept here too: a reaper started again is told them all. */
  private readonly groups = new Set<number>();
  private closed = false;
  private startedAt = Number.NEGATIVE_INFINITY;
  private restart: NodeJS.Timeout | null = null;

  /** `onLost` hears why a reaper died or could not start (it is then started again). */
  constructor(private readonly onLost: (why: string) => void = () => {}) {}

  /** Lists a runner's process group (its pid: runners are group leaders). */
  watch(pgid: number | null): void {
    if (pgid === null || this.closed) return;
    this.groups.add(pgid);
    if (this.stdin) this.stdin.write(`+ ${pgid}\n`);
    else this.start();
  }

  /** Takes a group off the list once its runner has exited and the group was killed. */
  forget(pgid: number | null): void {
    if (pgid === null || !this.groups.delete(pgid)) return;
    this.stdin?.write(`- ${pgid}\n`);
  }

  /** Ends the reaper: it kills what is still listed (nothing, after a graceful close) and exits. */
  close(): void {
    this.closed = true;
    if (this.restart) clearTimeout(this.restart);
    this.stdin?.end();
    this.stdin = null;
  }

  /** Starts a reaper and tells it every group listed; a second start within a second waits for the timer. */
  private start(): void {
    if (this.closed || this.stdin || this.restart) return;
    const since = performance.now() - this.startedAt;
    if (since < RESTART_AFTER_MS) {
      this.restart = setTimeout(() => {
        this.restart = null;
        this.start();
      }, RESTART_AFTER_MS - since);
      this.restart.unref();
      return;
    }
    this.startedAt = performance.now();
    let child: ChildProcess;
    try {
      child = spawn("/bin/sh", ["-c", REAPER_SCRIPT, "forewarm-reaper"], {
        stdio: ["pipe", "ignore", "ignore"],
        detached: true,
      });
    } catch (err) {
      this.lost(`could not start: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    this.stdin = child.stdin;
    // A reaper that could not start or died is a lost safety net, never a server failure: it is
    // started again while there are groups to watch.
    child.on("error", (err) => {
      if (this.child === child) this.lost(err.message);
    });
    child.on("exit", (code, signal) => {
      if (this.child === child && !this.closed) this.lost(`exited (${signal ?? code})`);
    });
    child.stdin?.on("error", () => {});
    // Neither the process nor its pipe keeps the server's event loop alive.
    child.unref();
    (child.stdin as Socket | null)?.unref();
    for (const g of this.groups) this.stdin?.write(`+ ${g}\n`);
  }

  private lost(why: string): void {
    this.child = null;
    this.stdin = null;
    if (this.closed) return;
    this.onLost(why);
    if (this.groups.size > 0) this.start();
  }
}

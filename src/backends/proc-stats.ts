/**
 * Reads per-process figures from /proc. Every reader returns null instead of throwing: the process
 * may be gone between the decision to read and the read itself.
 *
 * The reads are synchronous on purpose: /proc files are generated in memory in tens of
 * microseconds, while the thread-pool round trips of fs/promises cost ~0.5 ms each, which would
 * dominate the overhead of a warm run.
 */
import { readFileSync, writeFileSync } from "node:fs";

/** USER_HZ is 100 on every Linux architecture Node supports; /proc/<pid>/stat counts in it. */
const CLOCK_TICKS_PER_SECOND = 100;

async function readText(path: string): Promise<string | null> {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** A `Name:   123 kB` field of /proc/<pid>/status, in KiB. */
export async function readStatusKb(pid: number, field: "VmRSS" | "VmHWM"): Promise<number | null> {
  const text = await readText(`/proc/${pid}/status`);
  if (text === null) return null;
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(text);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/** Resident set size in MiB. */
export async function readRssMb(pid: number): Promise<number | null> {
  const kb = await readStatusKb(pid, "VmRSS");
  return kb === null ? null : kb / 1024;
}

/** Cumulative user + system CPU time of the process (not its children), in milliseconds. */
export async function readCpuMs(pid: number): Promise<number | null> {
  const text = await readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Bytes the process caused to be written to the storage layer (write_bytes of /proc/<pid>/io). */
export async function readWriteBytes(pid: number): Promise<number | null> {
  const text = await readText(`/proc/${pid}/io`);
  if (text === null) return null;
  const m = /^write_bytes:\s+(\d+)/m.exec(text);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/**
 * Resets the process's peak RSS (VmHWM) so it measures one run, not the process lifetime
 * (`5` in clear_refs, Linux ≥ 4.0). Returns false where not permitted.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples a process's RSS and CPU time at a fixed interval while a request runs: the peak for
 * hosts without cgroups, the last CPU figure for runs whose process was killed, and the hook
 * through which the backend enforces a memory limit by itself.
 */
export class ProcSampler {
  maxRssMb = 0;
  lastCpuMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly pid: number,
    private readonly intervalMs: number,
    private readonly onSample: (rssMb: number) => void,
  ) {}

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const [rss, cpu] = await Promise.all([readRssMb(this.pid), readCpuMs(this.pid)]);
    if (this.stopped) return;
    if (cpu !== null) this.lastCpuMs = cpu;
    if (rss !== null) {
      this.maxRssMb = Math.max(this.maxRssMb, rss);
      this.onSample(rss);
    }
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
  }
}

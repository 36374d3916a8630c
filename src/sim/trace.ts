/**
 * In-memory shapes of a loaded trace. Apps are numbered 0..n-1 in order of first appearance so that
 * engines index typed arrays instead of hashing names in their hot loops.
 */

/** M1 input: per app, its busy minutes (sorted, unique) and invocation counts, in CSR layout. */
export interface MinuteTrace {
  appNames: string[];
  /** Memory weight per app in MB (1 where the trace has none). */
  appMemoryMb: Float64Array;
  /** Busy minutes of app a are busyMinute[appOffset[a] .. appOffset[a+1]). */
  appOffset: Int32Array;
  busyMinute: Int32Array;
  busyCount: Float64Array;
  invocations: number;
}

/** M2 input: individual invocations, sorted by start time (ties keep trace order). */
export interface EventTrace {
  appNames: string[];
  appMemoryMb: Float64Array;
  app: Int32Array;
  /** Start time in seconds (the trace's own origin). */
  start: Float64Array;
  /** Execution time in seconds (0 where the trace has none). */
  duration: Float64Array;
}

export interface LoadedTrace {
  minutes: MinuteTrace;
  /** Present when the loader was asked for M2 events. */
  events?: EventTrace;
  /** Malformed lines skipped under --skip-bad. */
  skippedLines: number;
  /** Human-readable notes about choices the loader made (e.g. apps without memory). */
  notes: string[];
}

export function appCount(trace: MinuteTrace): number {
  return trace.appNames.length;
}

/** Last busy minute of any app: the end of the trace in M1 (design.md). */
export function lastBusyMinute(trace: MinuteTrace): number {
  let end = Number.NEGATIVE_INFINITY;
  for (let a = 0; a < trace.appNames.length; a++) {
    const hi = trace.appOffset[a + 1]!;
    if (hi > trace.appOffset[a]!) end = Math.max(end, trace.busyMinute[hi - 1]!);
  }
  return end;
}

/** Keeps only busy minutes ≤ T; apps left without any are dropped (renumbered, names kept). */
export function cutMinuteTrace(trace: MinuteTrace, untilMinute: number): MinuteTrace {
  const names: string[] = [];
  const memory: number[] = [];
  const offsets: number[] = [0];
  const minutes: number[] = [];
  const counts: number[] = [];
  let invocations = 0;
  for (let a = 0; a < trace.appNames.length; a++) {
    const before = minutes.length;
    for (let i = trace.appOffset[a]!; i < trace.appOffset[a + 1]!; i++) {
      const m = trace.busyMinute[i]!;
      if (m > untilMinute) break;
      minutes.push(m);
      counts.push(trace.busyCount[i]!);
      invocations += trace.busyCount[i]!;
    }
    if (minutes.length === before) continue;
    names.push(trace.appNames[a]!);
    memory.push(trace.appMemoryMb[a]!);
    offsets.push(minutes.length);
  }
  return {
    appNames: names,
    appMemoryMb: Float64Array.from(memory),
    appOffset: Int32Array.from(offsets),
    busyMinute: Int32Array.from(minutes),
    busyCount: Float64Array.from(counts),
    invocations,
  };
}

/** Keeps invocations starting in minutes ≤ T (floor(start / 60)). App numbering is kept. */
export function cutEventTrace(trace: EventTrace, untilMinute: number): EventTrace {
  const keep: number[] = [];
  for (let i = 0; i < trace.app.length; i++)
    if (Math.floor(trace.start[i]! / 60) <= untilMinute) keep.push(i);
  return {
    appNames: trace.appNames,
    appMemoryMb: trace.appMemoryMb,
    app: Int32Array.from(keep, (i) => trace.app[i]!),
    start: Float64Array.from(keep, (i) => trace.start[i]!),
    duration: Float64Array.from(keep, (i) => trace.duration[i]!),
  };
}

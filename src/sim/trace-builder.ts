import { stableArgsort } from "../core/sorted.js";
import { lineError } from "./errors.js";
import type { EventTrace, MinuteTrace } from "./trace.js";

/**
 * The most M2 events (one per invocation) a trace may create: each costs about 40 bytes while it is
 * built and sorted, so this is over a gigabyte. A count trace (Azure 2019) can ask for far more in one
 * cell; M1 keeps counts per minute and needs no such limit.
 */
export const MAX_M2_EVENTS = 30_000_000;

/**
 * Accumulates rows as loaders stream them, then freezes them into the typed layouts of trace.ts.
 * Rows may arrive in any time order; per-app minutes are sorted and merged at the end.
 */
export class TraceBuilder {
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly minutesOf: number[][] = [];
  private readonly countsOf: number[][] = [];
  private readonly memorySum: number[] = [];
  private readonly memoryRows: number[] = [];
  // M2 events in typed columns grown by doubling (millions of rows: plain arrays cost a tenth of a replay).
  private evApp = new Int32Array(1024);
  private evStart = new Float64Array(1024);
  private evDuration = new Float64Array(1024);
  private events = 0;
  private invocations = 0;

  constructor(private readonly wantEvents: boolean) {}

  appId(name: string): number {
    let id = this.index.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.index.set(name, id);
      this.names.push(name);
      this.minutesOf.push([]);
      this.countsOf.push([]);
      this.memorySum.push(0);
      this.memoryRows.push(0);
    }
    return id;
  }

  knownApp(name: string): number | undefined {
    return this.index.get(name);
  }

  get apps(): readonly string[] {
    return this.names;
  }

  /**
   * Before a row adds `count` M2 events: refuses (at the row's file and line) a row that would take the
   * trace past MAX_M2_EVENTS, instead of running out of memory without output.
   */
  reserveEvents(count: number, file: string, line: number): void {
    if (!this.wantEvents || this.events + count <= MAX_M2_EVENTS) return;
    throw lineError(
      file,
      line,
      `this line's ${count} invocations would take the trace past ${MAX_M2_EVENTS} M2 events (one per invocation, ${this.events} so far): too many for --model m2; M1 (the default model) counts invocations per minute and has no such limit`,
    );
  }

  /** Adds `count` invocations of app `id` in minute `minute` (M1). */
  addCount(id: number, minute: number, count: number): void {
    if (count <= 0) return;
    const ms = this.minutesOf[id]!;
    const last = ms.length - 1;
    if (last >= 0 && ms[last] === minute) this.countsOf[id]![last]! += count;
    else {
      ms.push(minute);
      this.countsOf[id]!.push(count);
    }
    this.invocations += count;
  }

  /** Adds one invocation (M1 count in its start minute, and the M2 event when events are wanted). */
  addInvocation(id: number, startSeconds: number, durationSeconds: number): void {
    this.addCount(id, Math.floor(startSeconds / 60), 1);
    if (this.wantEvents) this.addEventOnly(id, startSeconds, durationSeconds);
  }

  /** Adds an M2 event without counting it for M1 (for traces whose counts come separately). */
  addEventOnly(id: number, startSeconds: number, durationSeconds: number): void {
    const k = this.events++;
    if (k === this.evApp.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.evApp = grow(this.evApp, new Int32Array(2 * k));
      this.evStart = grow(this.evStart, new Float64Array(2 * k));
      this.evDuration = grow(this.evDuration, new Float64Array(2 * k));
    }
    this.evApp[k] = id;
    this.evStart[k] = startSeconds;
    this.evDuration[k] = durationSeconds;
  }

  /** One memory observation for an app; the app's memory is the mean of its observations. */
  addMemory(id: number, mb: number): void {
    this.memorySum[id]! += mb;
    this.memoryRows[id]! += 1;
  }

  appsWithoutMemory(): number {
    return this.memoryRows.filter((n) => n === 0).length;
  }

  minuteTrace(): MinuteTrace {
    const n = this.names.length;
    const offsets = new Int32Array(n + 1);
    const total = this.minutesOf.reduce((s, m) => s + m.length, 0);
    const minutes = new Int32Array(total);
    const counts = new Float64Array(total);
    let k = 0;
    for (let a = 0; a < n; a++) {
      offsets[a] = k;
      k = writeSortedMerged(this.minutesOf[a]!, this.countsOf[a]!, minutes, counts, k);
    }
    offsets[n] = k;
    return {
      appNames: this.names.slice(),
      appMemoryMb: this.memoryVector(),
      appOffset: offsets,
      busyMinute: minutes.subarray(0, k),
      busyCount: counts.subarray(0, k),
      invocations: this.invocations,
    };
  }

  eventTrace(): EventTrace | undefined {
    if (!this.wantEvents) return undefined;
    // Stable sort by start: arrivals at the same instant keep trace order (design.md, M2).
    const order = stableArgsort(this.evStart.subarray(0, this.events));
    const n = order.length;
    const app = new Int32Array(n);
    const start = new Float64Array(n);
    const duration = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      app[k] = this.evApp[i]!;
      start[k] = this.evStart[i]!;
      duration[k] = this.evDuration[i]!;
    }
    return { appNames: this.names.slice(), appMemoryMb: this.memoryVector(), app, start, duration };
  }

  private memoryVector(): Float64Array {
    return Float64Array.from(this.names, (_, a) =>
      this.memoryRows[a]! > 0 ? this.memorySum[a]! / this.memoryRows[a]! : 1,
    );
  }
}

function writeSortedMerged(
  ms: number[],
  cs: number[],
  outM: Int32Array,
  outC: Float64Array,
  k: number,
): number {
  let sorted = true;
  for (let i = 1; i < ms.length; i++) if (ms[i]! < ms[i - 1]!) sorted = false;
  let order = Array.from(ms.keys());
  if (!sorted) order = order.sort((x, y) => ms[x]! - ms[y]!);
  let out = k;
  for (const i of order) {
    if (out > k && outM[out - 1] === ms[i]) outC[out - 1]! += cs[i]!;
    else {
      outM[out] = ms[i]!;
      outC[out] = cs[i]!;
      out++;
    }
  }
  return out;
}

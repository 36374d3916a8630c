import { lineError, ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { TraceBuilder } from "../trace-builder.js";
import { BadLines, MAX_MINUTE, memoryField, numberField, readHeaderAndRows } from "./csv-rows.js";
import { AppMetaRecorder, type LoadedTraceWithMeta } from "./meta.js";
import type { LoadOptions } from "./types.js";

const MINUTE_COLUMN = /^(?:minute_)?(\d+)$/;

/**
 * Azure Functions 2019: per-function minute counts (columns `N` or `minute_N`), app = HashApp.
 * App memory = mean of `AverageAllocatedMb` over the app's rows in the memory file. The file repeats
 * the app's value on each of its function rows (identical in every multi-row app of the dev trace), so
 * mean = first = max; summing over rows would double-count (6,083,224 instead of the reference
 * 6,039,170 MB·min for fixed 10 min).
 */
export async function loadAzure2019(options: LoadOptions): Promise<LoadedTrace> {
  const file = options.invocations;
  if (!file)
    throw new ReplayInputError("azure2019 needs --invocations FILE (and optionally --memory, --durations)");
  const bad = new BadLines(options.skipBad ?? false);
  const wantEvents = options.wantEvents ?? false;
  const builder = new TraceBuilder(wantEvents);
  const notes: string[] = [];
  const durationSeconds =
    wantEvents && options.durations ? await readDurations(options.durations, bad) : undefined;

  const { header, rows } = await readHeaderAndRows(file, bad);
  const appCol = header.require("HashApp");
  const fnCol = header.optional("HashFunction");
  const ownerCol = header.optional("HashOwner");
  const triggerCol = header.optional("Trigger");
  const meta = new AppMetaRecorder();
  const minuteCols: { index: number; minute: number; name: string }[] = [];
  header.names.forEach((name, index) => {
    const m = MINUTE_COLUMN.exec(name);
    if (!m) return;
    const minute = Number(m[1]);
    // Minutes are 32-bit (trace-builder.ts): a larger one would wrap to a negative minute.
    if (minute > MAX_MINUTE)
      throw lineError(
        file,
        1,
        `minute column '${name}' is beyond the 32-bit minute range (max ${MAX_MINUTE}): column names are minute numbers, not timestamps`,
      );
    minuteCols.push({ index, minute, name });
  });
  if (minuteCols.length === 0) {
    throw new ReplayInputError(`${file}:1: no minute columns (expected columns named N or minute_N)`);
  }
  const counts = new Float64Array(minuteCols.length);
  let missingDurations = 0;
  nextRow: for await (const row of rows) {
    const appName = row.fields[appCol];
    if (!appName) {
      bad.report(file, row.line, "missing HashApp");
      continue;
    }
    for (let k = 0; k < minuteCols.length; k++) {
      const col = minuteCols[k]!;
      const v = numberField(file, row, col.index, col.name, bad);
      if (v === null) continue nextRow;
      if (v < 0 || !Number.isInteger(v)) {
        bad.report(
          file,
          row.line,
          `'${col.name}' is not a non-negative whole count: '${row.fields[col.index]}'`,
        );
        continue nextRow;
      }
      counts[k] = v;
    }
    if (wantEvents) builder.reserveEvents(sumOf(counts), file, row.line);
    const id = builder.appId(appName);
    meta.user(id, ownerCol === undefined ? undefined : row.fields[ownerCol]);
    meta.trigger(id, triggerCol === undefined ? undefined : row.fields[triggerCol]);
    const fn = fnCol === undefined ? undefined : row.fields[fnCol];
    let duration = 0;
    if (wantEvents && durationSeconds) {
      const d = fn === undefined ? undefined : durationSeconds.get(fn);
      if (d === undefined) missingDurations++;
      else duration = d;
    }
    for (let k = 0; k < minuteCols.length; k++) {
      const n = counts[k]!;
      if (n === 0) continue;
      const minute = minuteCols[k]!.minute;
      builder.addCount(id, minute, n);
      // The trace has counts only: spread a minute's invocations evenly over it, deterministically.
      if (wantEvents)
        for (let i = 0; i < n; i++) builder.addEventOnly(id, 60 * minute + (60 * i) / n, duration);
    }
  }
  if (missingDurations > 0) notes.push(`${missingDurations} functions without a duration row: duration 0`);
  if (options.memory) {
    await readMemory(options.memory, builder, bad);
    const without = builder.appsWithoutMemory();
    if (without > 0) notes.push(`${without} apps without a memory row: weight 1`);
  }
  const loaded: LoadedTraceWithMeta = {
    minutes: builder.minuteTrace(),
    events: builder.eventTrace(),
    skippedLines: bad.skipped,
    notes,
    appMeta: meta.finish(builder.apps.length),
  };
  return loaded;
}

async function readMemory(file: string, builder: TraceBuilder, bad: BadLines): Promise<void> {
  const { header, rows } = await readHeaderAndRows(file, bad);
  const appCol = header.require("HashApp");
  const mbCol = header.require("AverageAllocatedMb");
  for await (const row of rows) {
    const id = builder.knownApp(row.fields[appCol] ?? "");
    if (id === undefined) continue;
    const mb = memoryField(file, row, mbCol, "AverageAllocatedMb", bad);
    if (mb !== null) builder.addMemory(id, mb);
  }
}

function sumOf(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/** Mean execution time per function (the `Average` column, ms) in seconds. */
async function readDurations(file: string, bad: BadLines): Promise<Map<string, number>> {
  const { header, rows } = await readHeaderAndRows(file, bad);
  const fnCol = header.require("HashFunction");
  const avgCol = header.require("Average");
  const out = new Map<string, number>();
  for await (const row of rows) {
    const ms = numberField(file, row, avgCol, "Average", bad);
    if (ms !== null) out.set(row.fields[fnCol] ?? "", Math.max(0, ms) / 1000);
  }
  return out;
}

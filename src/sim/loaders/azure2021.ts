import { ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { TraceBuilder } from "../trace-builder.js";
import { BadLines, minuteInRange, numberField, readHeaderAndRows, SECONDS_HINT } from "./csv-rows.js";
import type { LoadOptions } from "./types.js";

/** Azure Functions 2021 invocations: `app,func,end_timestamp,duration` (s); start = end − duration. */
export async function loadAzure2021(options: LoadOptions): Promise<LoadedTrace> {
  const file = options.trace;
  if (!file) throw new ReplayInputError("azure2021 needs --trace FILE");
  const bad = new BadLines(options.skipBad ?? false);
  const builder = new TraceBuilder(options.wantEvents ?? false);
  const { header, rows } = await readHeaderAndRows(file, bad);
  const appCol = header.require("app");
  const endCol = header.require("end_timestamp");
  const durCol = header.require("duration");
  for await (const row of rows) {
    const app = row.fields[appCol];
    if (!app) {
      bad.report(file, row.line, "missing app");
      continue;
    }
    const end = numberField(file, row, endCol, "end_timestamp", bad);
    if (end === null) continue;
    const duration = numberField(file, row, durCol, "duration", bad);
    if (duration === null) continue;
    if (duration < 0) {
      bad.report(file, row.line, `negative duration: ${duration}`);
      continue;
    }
    const start = end - duration;
    if (!minuteInRange(file, row.line, Math.floor(end / 60), "end_timestamp", SECONDS_HINT, bad)) continue;
    if (!minuteInRange(file, row.line, Math.floor(start / 60), "end_timestamp − duration", SECONDS_HINT, bad))
      continue;
    builder.addInvocation(builder.appId(app), start, duration);
  }
  return {
    minutes: builder.minuteTrace(),
    events: builder.eventTrace(),
    skippedLines: bad.skipped,
    notes: [],
  };
}

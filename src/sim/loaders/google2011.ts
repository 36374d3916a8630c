import { pairName } from "../../core/app-name.js";
import { ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { TraceBuilder } from "../trace-builder.js";
import { BadLines, minuteInRange, numberField, readHeaderAndRows } from "./csv-rows.js";
import { AppMetaRecorder, type LoadedTraceWithMeta } from "./meta.js";
import type { LoadOptions } from "./types.js";

const US_PER_MINUTE = 60_000_000;
const MICROSECONDS_HINT = "times are read as microseconds (nanoseconds?)";

/**
 * Google cluster 2011 jobs (one row per job): app = (user, logical_job_name), one invocation at
 * `submit_us`; duration = end_us − schedule_us where both are present, else 0.
 */
export async function loadGoogle2011Jobs(options: LoadOptions): Promise<LoadedTrace> {
  const file = options.trace;
  if (!file) throw new ReplayInputError("google2011-jobs needs --trace FILE");
  const bad = new BadLines(options.skipBad ?? false);
  const wantEvents = options.wantEvents ?? false;
  const builder = new TraceBuilder(wantEvents);
  const meta = new AppMetaRecorder();
  const { header, rows } = await readHeaderAndRows(file, bad);
  const submitCol = header.require("submit_us");
  const schedCol = header.require("schedule_us");
  const endCol = header.require("end_us");
  const userCol = header.require("user");
  const nameCol = header.require("logical_job_name");
  for await (const row of rows) {
    const user = row.fields[userCol];
    const name = row.fields[nameCol];
    if (!user || name === undefined) {
      bad.report(file, row.line, "missing user or logical_job_name");
      continue;
    }
    const submit = numberField(file, row, submitCol, "submit_us", bad);
    if (submit === null) continue;
    // Integer division on µs avoids float rounding at minute boundaries.
    const minute = Math.floor(submit / US_PER_MINUTE);
    if (!minuteInRange(file, row.line, minute, "submit_us", MICROSECONDS_HINT, bad)) continue;
    let duration = 0;
    if (wantEvents) {
      const sched = row.fields[schedCol];
      const end = row.fields[endCol];
      if (sched && end) {
        const s = numberField(file, row, schedCol, "schedule_us", bad);
        if (s === null) continue;
        const e = numberField(file, row, endCol, "end_us", bad);
        if (e === null) continue;
        duration = Math.max(0, e - s) / 1e6;
      }
    }
    const id = builder.appId(pairName(user, name));
    meta.user(id, user);
    builder.addCount(id, minute, 1);
    if (wantEvents) builder.addEventOnly(id, submit / 1e6, duration);
  }
  const loaded: LoadedTraceWithMeta = {
    minutes: builder.minuteTrace(),
    events: builder.eventTrace(),
    skippedLines: bad.skipped,
    notes: [],
    appMeta: meta.finish(builder.apps.length),
  };
  return loaded;
}

import { createInterface } from "node:readline";
import { pairName } from "../../core/app-name.js";
import { lineError, ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { TraceBuilder } from "../trace-builder.js";
import { BadLines, minuteInRange, openTraceStream, parseDecimal, SECONDS_HINT } from "./csv-rows.js";
import { AppMetaRecorder, type LoadedTraceWithMeta } from "./meta.js";
import type { LoadOptions } from "./types.js";

const SWF_FIELDS = 18;

/**
 * Standard Workload Format: 18 whitespace-separated fields, `;` comment lines. Field 2 = submit time
 * (s), 4 = run time (s, −1 unknown → 0), 12 = user id, 14 = executable id; app = (user, executable).
 */
export async function loadSwf(options: LoadOptions): Promise<LoadedTrace> {
  const file = options.trace;
  if (!file) throw new ReplayInputError("swf needs --trace FILE");
  const bad = new BadLines(options.skipBad ?? false);
  const builder = new TraceBuilder(options.wantEvents ?? false);
  const meta = new AppMetaRecorder();
  const lines = createInterface({ input: await openTraceStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  let dataLines = 0;
  try {
    for await (const text of lines) {
      lineNo++;
      const trimmed = text.trim();
      if (trimmed === "" || trimmed.startsWith(";")) continue;
      dataLines++;
      const f = trimmed.split(/\s+/);
      if (f.length < SWF_FIELDS) {
        bad.report(file, lineNo, `expected ${SWF_FIELDS} fields, found ${f.length}`);
        continue;
      }
      const submit = parseDecimal(f[1]!);
      if (!Number.isFinite(submit)) {
        bad.report(file, lineNo, `'submit time (field 2)' is not a number: '${f[1]}'`);
        continue;
      }
      const run = parseDecimal(f[3]!);
      if (!Number.isFinite(run)) {
        bad.report(file, lineNo, `'run time (field 4)' is not a number: '${f[3]}'`);
        continue;
      }
      if (submit < 0) {
        bad.report(file, lineNo, `negative submit time: ${submit}`);
        continue;
      }
      if (!minuteInRange(file, lineNo, Math.floor(submit / 60), "submit time (field 2)", SECONDS_HINT, bad))
        continue;
      const id = builder.appId(pairName(`u${f[11]}`, `x${f[13]}`));
      meta.user(id, `u${f[11]}`);
      builder.addInvocation(id, submit, Math.max(0, run));
    }
  } catch (err) {
    if (err instanceof ReplayInputError) throw err;
    throw new ReplayInputError(`${file}: cannot read: ${(err as Error).message}`);
  }
  if (dataLines === 0) throw lineError(file, Math.max(1, lineNo), "empty file (no job lines)");
  const loaded: LoadedTraceWithMeta = {
    minutes: builder.minuteTrace(),
    events: builder.eventTrace(),
    skippedLines: bad.skipped,
    notes: [],
    appMeta: meta.finish(builder.apps.length),
  };
  return loaded;
}

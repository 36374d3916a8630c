import { lineError, ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { TraceBuilder } from "../trace-builder.js";
import {
  BadLines,
  type Header,
  memoryField,
  minuteInRange,
  numberField,
  type Row,
  readHeaderAndRows,
} from "./csv-rows.js";
import { AppMetaRecorder, type LoadedTraceWithMeta } from "./meta.js";
import { type LoadOptions, TIME_FORMATS, type TimeFormat } from "./types.js";

const ROLES = ["time", "user", "type", "duration", "memory"] as const;
type Role = (typeof ROLES)[number];

/** Parses `--map time=COL,user=COL,...`; `time` and at least one of `user`/`type` are required. */
export function parseColumnMap(spec: string | undefined): Partial<Record<Role, string>> {
  if (!spec)
    throw new ReplayInputError("csv needs --map time=COL,user=COL,type=COL[,duration=COL][,memory=COL]");
  const map: Partial<Record<Role, string>> = {};
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    const role = part.slice(0, eq).trim() as Role;
    const column = part.slice(eq + 1).trim();
    if (eq <= 0 || column === "" || !ROLES.includes(role)) {
      throw new ReplayInputError(
        `--map: bad entry '${part}' (expected ROLE=COLUMN, roles: ${ROLES.join(", ")})`,
      );
    }
    map[role] = column;
  }
  if (!map.time) throw new ReplayInputError("--map: 'time' is required");
  if (!map.user && !map.type)
    throw new ReplayInputError("--map: at least one of 'user' and 'type' is required");
  return map;
}

/** Seconds since the epoch (or the trace's origin) from one time field. */
export function parseTime(text: string, format: TimeFormat): number {
  if (format === "iso") {
    // ISO times without a zone are UTC (issue 4), not local time as Date.parse would assume.
    const zoned = /(?:Z|[+-]\d\d:?\d\d)$/i.test(text) || !/T|\d\s\d/.test(text) ? text : `${text}Z`;
    const ms = Date.parse(/^\d{4}-\d\d-\d\d$/.test(zoned) ? `${zoned}T00:00:00Z` : zoned.replace(" ", "T"));
    return ms / 1000;
  }
  const v = text === "" ? Number.NaN : Number(text);
  return format === "s" ? v : format === "ms" ? v / 1e3 : v / 1e6;
}

/** Any CSV with a column mapping: app = (user, type); minute = floor(time in s / 60). */
export async function loadMappedCsv(options: LoadOptions): Promise<LoadedTrace> {
  const file = options.trace;
  if (!file) throw new ReplayInputError("csv needs --trace FILE");
  const map = parseColumnMap(options.map);
  const format = options.timeFormat ?? "s";
  if (!TIME_FORMATS.includes(format)) {
    throw new ReplayInputError(`--time-format: '${format}' is not one of ${TIME_FORMATS.join(", ")}`);
  }
  const bad = new BadLines(options.skipBad ?? false);
  const builder = new TraceBuilder(options.wantEvents ?? false);
  const meta = new AppMetaRecorder();
  // A user's CSV may quote its fields.
  const { header, rows } = await readHeaderAndRows(file, bad, true);
  const col = (role: Role): number | undefined => mapped(header, role, map[role]);
  const timeCol = col("time")!;
  const userCol = col("user");
  const typeCol = col("type");
  const durCol = col("duration");
  const memCol = col("memory");
  for await (const row of rows) {
    const start = timeField(file, row, timeCol, map.time!, format, bad);
    if (start === null) continue;
    const duration = durCol === undefined ? 0 : numberField(file, row, durCol, map.duration!, bad);
    if (duration === null) continue;
    const memory = memCol === undefined ? undefined : memoryField(file, row, memCol, map.memory!, bad);
    if (memory === null) continue;
    const user = userCol === undefined ? "" : (row.fields[userCol] ?? "");
    const type = typeCol === undefined ? "" : (row.fields[typeCol] ?? "");
    const id = builder.appId(`${user}/${type}`);
    if (userCol !== undefined) meta.user(id, user);
    builder.addInvocation(id, start, Math.max(0, duration));
    if (memory !== undefined) builder.addMemory(id, memory);
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

function mapped(header: Header, role: Role, column: string | undefined): number | undefined {
  if (column === undefined) return undefined;
  if (!header.has(column))
    throw lineError(header.file, 1, `missing column '${column}' (mapped as ${role} by --map)`);
  return header.require(column);
}

function timeField(file: string, row: Row, index: number, column: string, format: TimeFormat, bad: BadLines) {
  const text = row.fields[index] ?? "";
  const t = parseTime(text, format);
  if (!Number.isFinite(t)) {
    bad.report(file, row.line, `'${column}' is not a time in format ${format}: '${text}'`);
    return null;
  }
  if (!minuteInRange(file, row.line, Math.floor(t / 60), column, timeHint(format), bad)) return null;
  return t;
}

/** Why a time may be out of range under `format`: nearly always a unit mistake. */
function timeHint(format: TimeFormat): string {
  if (format === "iso") return "ISO dates must lie within about 4,000 years of 1970";
  if (format === "s")
    return "--time-format s reads it as seconds: epoch milliseconds or microseconds need --time-format ms or us";
  if (format === "ms") return "--time-format ms reads it as milliseconds: microseconds need --time-format us";
  return "--time-format us reads it as microseconds (nanoseconds?)";
}

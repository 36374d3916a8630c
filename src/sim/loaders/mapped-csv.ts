import { pairName } from "../../core/app-name.js";
import { lineError, ReplayInputError } from "../errors.js";
import type { LoadedTrace } from "../trace.js";
import { TraceBuilder } from "../trace-builder.js";
import {
  BadLines,
  type Header,
  memoryField,
  minuteInRange,
  numberField,
  parseDecimal,
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

/** Seconds since the epoch (or the trace's origin) from one time field; NaN if it is not one. */
export function parseTime(text: string, format: TimeFormat): number {
  if (format === "iso") {
    const t = isoSeconds(text);
    return typeof t === "number" ? t : Number.NaN;
  }
  const v = parseDecimal(text);
  return format === "s" ? v : format === "ms" ? v / 1e3 : v / 1e6;
}

/** The ISO-8601 forms `--time-format iso` reads, as the error message shows them. */
const ISO_FORMS = "YYYY-MM-DD, optionally Thh:mm[:ss[.fff]] and Z or ±hh:mm; no zone = UTC";
// The offset may also be written ±hhmm (ISO-8601's basic form, as strftime's %z writes it), as before.
const ISO_TIME =
  /^(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d\d):?(\d\d))?)?$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Seconds since the epoch of a strict ISO-8601 date or date-time (times without a zone are UTC, issue 4,
 * not local time), or why it is not one: "syntax" (not of the accepted forms) or "date" (a field out of
 * range, e.g. February 30, which Date.parse would roll over into March). Fractions below a millisecond
 * are dropped.
 */
export function isoSeconds(text: string): number | "syntax" | "date" {
  const m = ISO_TIME.exec(text);
  if (!m) return "syntax";
  const field = (i: number): number => Number(m[i] ?? 0);
  const [year, month, day, hour, minute, second] = [
    field(1),
    field(2),
    field(3),
    field(4),
    field(5),
    field(6),
  ];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (monthDays === undefined || day < 1 || day > monthDays) return "date";
  if (hour > 23 || minute > 59 || second > 59) return "date";
  let offset = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return "date";
    offset = (m[9] === "-" ? -1 : 1) * (3600 * oh + 60 * om);
  }
  const ms = Number((m[7] ?? "").padEnd(3, "0").slice(0, 3));
  const seconds = 86400 * daysFromCivil(year, month, day) + 3600 * hour + 60 * minute + second - offset;
  return (1000 * seconds + ms) / 1000;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - 400 * era;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return 146097 * era + 365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
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
    if (duration < 0) {
      bad.report(file, row.line, `'${map.duration}': negative duration: ${row.fields[durCol!]}`);
      continue;
    }
    const memory = memCol === undefined ? undefined : memoryField(file, row, memCol, map.memory!, bad);
    if (memory === null) continue;
    const user = userCol === undefined ? "" : (row.fields[userCol] ?? "");
    const type = typeCol === undefined ? "" : (row.fields[typeCol] ?? "");
    const id = builder.appId(pairName(user, type));
    if (userCol !== undefined) meta.user(id, user);
    builder.addInvocation(id, start, duration);
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
  const t = format === "iso" ? isoSeconds(text) : parseTime(text, format);
  if (t === "date") {
    bad.report(file, row.line, `'${column}': no such date or time: '${text}'`);
    return null;
  }
  if (t === "syntax") {
    bad.report(file, row.line, `'${column}' is not an ISO-8601 time (${ISO_FORMS}): '${text}'`);
    return null;
  }
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

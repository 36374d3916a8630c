import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { parse } from "csv-parse";
import { lineError, ReplayInputError } from "../errors.js";

/** A data line of a trace file: its 1-based line number and raw fields. */
export interface Row {
  line: number;
  fields: string[];
}

/**
 * Decides what happens to a malformed line: an error naming file and line, or, under --skip-bad,
 * a count reported with the results.
 */
export class BadLines {
  skipped = 0;
  constructor(readonly skipBad: boolean) {}
  report(file: string, line: number, message: string): void {
    if (!this.skipBad) throw lineError(file, line, message);
    this.skipped++;
  }
}

export async function openTraceStream(file: string): Promise<Readable> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(file)).isDirectory();
  } catch {
    throw new ReplayInputError(`${file}: cannot read file`);
  }
  if (isDirectory) throw new ReplayInputError(`${file}: is a directory, not a trace file`);
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  return file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
}

interface CsvInfoRecord {
  record: string[];
  info: { lines: number };
}

/**
 * Streams a CSV file (plain or .gz): the header, then data rows with their line numbers. `quoted`:
 * fields may be quoted (a user's CSV); the public traces' fixed formats never quote, so there a stray
 * `"` is a character of its field, not the start of a record that swallows the rest of the file.
 */
export async function* readCsv(file: string, bad: BadLines, quoted: boolean): AsyncGenerator<Row> {
  const input = await openTraceStream(file);
  const parser = input.pipe(
    parse({
      info: true,
      bom: true,
      quote: quoted ? '"' : false,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      skip_records_with_error: bad.skipBad,
    }),
  );
  // The line after the last good record: where a record that never closed its quote began.
  let next = 2;
  let unclosed = false;
  parser.on("skip", (err: { code?: string }) => {
    // An unclosed quote ran to the end of the file: every line after it was lost, not one skipped.
    if (err.code === "CSV_QUOTE_NOT_CLOSED") unclosed = true;
    else bad.skipped++;
  });
  input.on("error", (err) => parser.destroy(err));
  try {
    for await (const item of parser as AsyncIterable<CsvInfoRecord>) {
      yield { line: item.info.lines, fields: item.record };
      next = item.info.lines + 1;
    }
  } catch (err) {
    if (err instanceof ReplayInputError) throw err;
    const e = err as { lines?: number; message?: string; code?: string; syscall?: string };
    if (e.code === "Z_DATA_ERROR" || e.code === "Z_BUF_ERROR")
      throw new ReplayInputError(`${file}: not a valid gzip file`);
    if (e.code === "CSV_QUOTE_NOT_CLOSED") throw unclosedQuote(file, next);
    const message = e.message ?? String(err);
    // A read error of the OS (EACCES, EIO, …) concerns the file, not a line of it.
    if (e.syscall !== undefined) throw new ReplayInputError(`${file}: cannot read: ${message}`);
    if (e.lines === undefined) throw new ReplayInputError(`${file}: malformed CSV: ${message}`);
    throw lineError(file, e.lines, `malformed CSV: ${message}`);
  }
  if (unclosed) throw unclosedQuote(file, next);
}

function unclosedQuote(file: string, line: number): ReplayInputError {
  return lineError(
    file,
    line,
    "a quote opened in the record starting here (or after the blank lines that follow) is never closed: the rest of the file would be one field",
  );
}

/** Column positions by header name; a missing required column is an error on line 1. */
export class Header {
  private readonly pos = new Map<string, number>();
  constructor(
    readonly file: string,
    readonly names: string[],
  ) {
    names.forEach((n, i) => {
      this.pos.set(n, i);
    });
  }
  has(name: string): boolean {
    return this.pos.has(name);
  }
  require(name: string, why = ""): number {
    const i = this.pos.get(name);
    if (i === undefined) {
      const shown = this.names.length > 12 ? `${this.names.slice(0, 12).join(",")},…` : this.names.join(",");
      throw lineError(this.file, 1, `missing column '${name}'${why} (header: ${shown})`);
    }
    return i;
  }
  optional(name: string): number | undefined {
    return this.pos.get(name);
  }
}

/** Reads the header line; an empty file is an error on line 1. */
export async function readHeaderAndRows(
  file: string,
  bad: BadLines,
  quoted = false,
): Promise<{ header: Header; rows: AsyncGenerator<Row> }> {
  const rows = readCsv(file, bad, quoted);
  const first = await rows.next();
  if (first.done) throw lineError(file, 1, "empty file (expected a header line)");
  return { header: new Header(file, first.value.fields), rows };
}

/** A finite number, or a line error naming the column. */
export function numberField(
  file: string,
  row: Row,
  index: number,
  column: string,
  bad: BadLines,
): number | null {
  const text = row.fields[index];
  if (text === undefined) {
    bad.report(file, row.line, `missing value for '${column}' (line has ${row.fields.length} fields)`);
    return null;
  }
  const v = parseDecimal(text);
  if (!Number.isFinite(v)) {
    bad.report(file, row.line, `'${column}' is not a number: '${text}'`);
    return null;
  }
  return v;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A number written in plain decimal (optional sign, fraction and exponent), as the trace formats write
 * them; NaN for anything else. `Number` alone would also read hex, octal and binary (`0x100` as 256).
 */
export function parseDecimal(text: string): number {
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

/** The hint for a time out of range in a format whose times are seconds. */
export const SECONDS_HINT = "times are read as seconds (milliseconds or microseconds?)";

/** Minute numbers are stored as 32-bit signed integers (trace-builder.ts): beyond these they would wrap. */
export const MIN_MINUTE = -(2 ** 31);
export const MAX_MINUTE = 2 ** 31 - 1;

/**
 * Whether `minute` fits the trace's 32-bit minute numbers; if not, a line error naming `column` with
 * `hint` (times that large are nearly always a unit mistake, e.g. milliseconds read as seconds).
 */
export function minuteInRange(
  file: string,
  line: number,
  minute: number,
  column: string,
  hint: string,
  bad: BadLines,
): boolean {
  if (minute >= MIN_MINUTE && minute <= MAX_MINUTE) return true;
  bad.report(
    file,
    line,
    `'${column}' gives minute ${minute}, outside the 32-bit minute range (${MIN_MINUTE}..${MAX_MINUTE}): ${hint}`,
  );
  return false;
}

/**
 * A memory size in MB, or a line error naming the column: it weighs the app's waste, so zero or a
 * negative size would make waste vanish or turn negative.
 */
export function memoryField(
  file: string,
  row: Row,
  index: number,
  column: string,
  bad: BadLines,
): number | null {
  const mb = numberField(file, row, index, column, bad);
  if (mb === null) return null;
  if (!(mb > 0)) {
    bad.report(file, row.line, `'${column}': memory must be > 0 MB, got ${row.fields[index]}`);
    return null;
  }
  return mb;
}

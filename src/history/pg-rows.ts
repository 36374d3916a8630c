/** How TaskRecord fields travel to and from PostgreSQL rows of `tasks`. */
import pg from "pg";
import type { TaskRecord } from "../core/types.js";
import { JSON_FIELDS, storedNumber, TASK_COLUMNS, TASK_FIELDS } from "./columns.js";

/** Column names as SQL (PostgreSQL reserves "user"). */
export const COLUMNS: Record<keyof TaskRecord, string> = { ...TASK_COLUMNS, user: '"user"' };
const FIELDS = TASK_FIELDS;
/** Result-row key of a column (the quotes are SQL syntax, not part of the name). */
const rowKey = (field: keyof TaskRecord): string => COLUMNS[field].replace(/"/g, "");

export type Row = Record<string, unknown>;

const INT8_OID = 20;
/**
 * pg returns int8 as strings (to be safe beyond 2^53); every bigint here is a JS number in
 * TaskRecord, exactly as better-sqlite3 returns SQLite integers.
 */
export const pgTypes = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID && format !== "binary") return (v: string) => Number(v);
    return format === "binary" ? pg.types.getTypeParser(oid, "binary") : pg.types.getTypeParser(oid);
  }) as typeof pg.types.getTypeParser,
};

export function toColumn(field: keyof TaskRecord, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  // JSON.stringify also stops pg from turning JS arrays into PostgreSQL array literals.
  if (JSON_FIELDS.has(field)) return JSON.stringify(value);
  // PostgreSQL text cannot hold NUL (SQLite can); a worker's stderr in `error` must not make the
  // final update fail, so NUL becomes U+FFFD. The only place the two stores differ.
  if (typeof value === "string" && value.includes("\u0000")) return value.replaceAll("\u0000", "\uFFFD");
  if (typeof value === "number") return storedNumber(field, value);
  return value;
}

export function fromRow(row: Row): TaskRecord {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = row[rowKey(f)];
    // SQLite's store omits a null output rather than returning output: null.
    if (f === "output") {
      if (v !== null && v !== undefined) out[f] = v;
    } else out[f] = v ?? null;
  }
  return out as unknown as TaskRecord;
}

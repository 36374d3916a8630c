import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { yieldToEventLoop } from "../core/clock.js";
import type { TaskRecord } from "../core/types.js";
import { JSON_FIELDS, storedNumber, TASK_COLUMNS, TASK_FIELDS } from "./columns.js";
import { SQLITE_MIGRATIONS } from "./migrations.js";
import {
  arrivalRollup,
  FINAL_STATES_SQL,
  type HistoryStore,
  type MinuteRollup,
  minuteOf,
  type PruneSummary,
  type RollupQuery,
  type SeriesSummary,
  TaskEndedError,
  type TaskQuery,
  type TaskUpdate,
  usageRollup,
} from "./store.js";

const COLUMNS = TASK_COLUMNS;
const FIELDS = TASK_FIELDS;

type Row = Record<string, unknown>;

/** A WHERE clause of the conditions whose value is given, with their parameters in order. */
function conditions(parts: [sql: string, value: unknown][]): { where: string; params: unknown[] } {
  const given = parts.filter(([, v]) => v !== undefined);
  return {
    where: given.length ? `WHERE ${given.map(([sql]) => sql).join(" AND ")}` : "",
    params: given.map(([, v]) => v),
  };
}

function toColumn(field: keyof TaskRecord, value: unknown): unknown {
  if (value === undefined) return null;
  if (JSON_FIELDS.has(field)) return value === null ? null : JSON.stringify(value);
  if (field === "cold") return value === null ? null : value ? 1 : 0;
  if (typeof value === "number") return storedNumber(field, value);
  return value;
}

function fromRow(row: Row): TaskRecord {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = row[COLUMNS[f]];
    if (f === "output") {
      if (v !== null && v !== undefined) out[f] = JSON.parse(String(v));
    } else if (JSON_FIELDS.has(f)) out[f] = v === null || v === undefined ? null : JSON.parse(String(v));
    else if (f === "cold") out[f] = v === null ? null : v === 1;
    else out[f] = v ?? null;
  }
  return out as unknown as TaskRecord;
}

/**
 * The embedded default store: one SQLite file in WAL mode. better-sqlite3 is synchronous, which is
 * what makes it fast here (no thread hop per statement); the async interface just wraps it.
 */
export class SqliteHistoryStore implements HistoryStore {
  readonly db: Database.Database;

  /** `pruneBatchRows`: rows a prune deletes between yields to the event loop. */
  constructor(
    file: string,
    private readonly pruneBatchRows = 5_000,
  ) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
  }

  /** Applied schema version (for tests and `forewarm status`). */
  schemaVersion(): number {
    const row = this.db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as {
      v: number | null;
    };
    return row.v ?? 0;
  }

  private migrate(): void {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at INTEGER)",
    );
    const current = this.schemaVersion();
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db
          .prepare("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)")
          .run(m.version, m.description, Date.now());
      })();
    }
  }

  async insertTask(record: TaskRecord): Promise<void> {
    const cols = FIELDS.map((f) => COLUMNS[f]);
    const values = FIELDS.map((f) => toColumn(f, record[f]));
    const insert = this.db.prepare(
      `INSERT INTO tasks (${cols.join(",")}) VALUES (${cols.map(() => "?").join(",")})`,
    );
    const arrive = this.db.prepare(
      `INSERT INTO series_minutes (user, task_type, minute, arrivals, first_arrival, memory_mb)
       VALUES (?, ?, ?, 1, ?, ?)
       ON CONFLICT (user, task_type, minute) DO UPDATE SET arrivals = arrivals + 1,
         first_arrival = MIN(COALESCE(first_arrival, excluded.first_arrival), excluded.first_arrival),
         memory_mb = COALESCE(excluded.memory_mb, memory_mb)`,
    );
    this.db.transaction(() => {
      insert.run(...values);
      arrive.run(...arrivalRollup(record));
    })();
  }

  async updateTask(id: string, update: TaskUpdate): Promise<void> {
    const fields = (Object.keys(update) as (keyof TaskRecord)[]).filter((f) => f in COLUMNS);
    if (fields.length === 0) return;
    const sets = fields.map((f) => `${COLUMNS[f]} = ?`).join(", ");
    const values = fields.map((f) => toColumn(f, update[f as keyof TaskUpdate]));
    this.db.transaction(() => {
      const info = this.db
        .prepare(`UPDATE tasks SET ${sets} WHERE id = ? AND status NOT IN ${FINAL_STATES_SQL}`)
        .run(...values, id);
      if (info.changes === 0) {
        const row = this.db.prepare("SELECT status FROM tasks WHERE id = ?").get(id) as
          | { status: string }
          | undefined;
        throw row ? new TaskEndedError(id, row.status) : new Error(`no task ${id}`);
      }
      if (update.status === "succeeded" || update.status === "failed") this.addUsage(id);
    })();
  }

  /** Adds a finished task's measured usage to the rollup of the minute it finished in. */
  private addUsage(id: string): void {
    const t = this.db.prepare("SELECT * FROM tasks WHERE id = ?").get(id) as Row;
    this.db
      .prepare(
        `INSERT INTO series_minutes (user, task_type, minute, cpu_seconds, peak_memory_mb, memory_mb_sum,
           completed, network_in_bytes, network_out_bytes, storage_bytes_written)
         VALUES (@user, @type, @minute, @cpu, @mem, @mem, 1, @nin, @nout, @sto)
         ON CONFLICT (user, task_type, minute) DO UPDATE SET
           cpu_seconds = cpu_seconds + excluded.cpu_seconds,
           peak_memory_mb = MAX(peak_memory_mb, excluded.peak_memory_mb),
           memory_mb_sum = memory_mb_sum + excluded.memory_mb_sum,
           completed = completed + 1,
           network_in_bytes = network_in_bytes + excluded.network_in_bytes,
           network_out_bytes = network_out_bytes + excluded.network_out_bytes,
           storage_bytes_written = storage_bytes_written + excluded.storage_bytes_written`,
      )
      .run(usageRollup(fromRow(t)));
  }

  async getTask(id: string): Promise<TaskRecord | null> {
    const row = this.db.prepare("SELECT * FROM tasks WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  async listTasks(query: TaskQuery = {}): Promise<TaskRecord[]> {
    const { where, params } = conditions([
      ["user = ?", query.user],
      ["task_type = ?", query.taskType],
      ["status = ?", query.status],
    ]);
    const sql = `SELECT * FROM tasks ${where}
      ORDER BY submitted_at DESC, rowid DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, query.limit ?? 100) as Row[];
    return rows.map(fromRow);
  }

  async recordConcurrency(
    user: string,
    taskType: string,
    minute: number,
    concurrency: number,
  ): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO series_minutes (user, task_type, minute, peak_concurrency) VALUES (?, ?, ?, ?)
         ON CONFLICT (user, task_type, minute) DO UPDATE SET
           peak_concurrency = MAX(peak_concurrency, excluded.peak_concurrency)`,
      )
      .run(user, taskType, minute, concurrency);
  }

  async rollups(query: RollupQuery = {}): Promise<MinuteRollup[]> {
    const { where, params } = conditions([
      ["user = ?", query.user],
      ["task_type = ?", query.taskType],
      ["minute >= ?", query.fromMinute],
      ["minute <= ?", query.toMinute],
    ]);
    const rows = this.db
      .prepare(
        `SELECT user, task_type AS taskType, minute, arrivals, peak_concurrency AS peakConcurrency,
           cpu_seconds AS cpuSeconds, peak_memory_mb AS peakMemoryMb, memory_mb_sum AS memoryMbSum, completed,
           network_in_bytes AS networkInBytes, network_out_bytes AS networkOutBytes,
           storage_bytes_written AS storageBytesWritten, first_arrival AS firstArrivalMs,
           memory_mb AS memoryMb
         FROM series_minutes ${where}
         ORDER BY user, task_type, minute`,
      )
      .all(...params) as MinuteRollup[];
    return rows;
  }

  async series(): Promise<SeriesSummary[]> {
    return this.db
      .prepare(
        `SELECT user, task_type AS taskType, MIN(minute) AS firstMinute, MAX(minute) AS lastMinute,
           SUM(arrivals) AS arrivals
         FROM series_minutes GROUP BY user, task_type HAVING SUM(arrivals) > 0 ORDER BY user, task_type`,
      )
      .all() as SeriesSummary[];
  }

  async failUnfinished(now: number, reason: string, owner?: string): Promise<number> {
    const ids = (
      owner === undefined
        ? this.db.prepare("SELECT id FROM tasks WHERE status IN ('queued', 'running')").all()
        : this.db
            .prepare("SELECT id FROM tasks WHERE status IN ('queued', 'running') AND owner = ?")
            .all(owner)
    ) as { id: string }[];
    for (const { id } of ids) {
      await this.updateTask(id, {
        status: "failed",
        finishedAt: now,
        exitStatus: "interrupted",
        error: reason,
      });
    }
    return ids.length;
  }

  async unfinishedOwners(): Promise<string[]> {
    const rows = this.db
      .prepare("SELECT DISTINCT owner FROM tasks WHERE status IN ('queued', 'running') AND owner IS NOT NULL")
      .all() as { owner: string }[];
    return rows.map((r) => r.owner).sort();
  }

  /**
   * Deletes in batches of `pruneBatchRows`, yielding to the event loop between them: SQLite runs
   * synchronously, and deleting a few hundred thousand rows at once held every request for seconds
   * (2.9 s for 500,000 tasks). Each batch is atomic; a prune cut short is finished by the next.
   */
  async prune(beforeMs: number): Promise<PruneSummary> {
    const batch = this.pruneBatchRows;
    const tasks = this.db.prepare(
      `DELETE FROM tasks WHERE rowid IN (SELECT rowid FROM tasks
         WHERE submitted_at < ? AND status IN ('succeeded', 'failed') LIMIT ?)`,
    );
    const rollups = this.db.prepare(
      // WITHOUT ROWID: rows are named by their key.
      `DELETE FROM series_minutes WHERE (user, task_type, minute) IN
         (SELECT user, task_type, minute FROM series_minutes WHERE minute < ? LIMIT ?)`,
    );
    const summary = { deletedTaskRows: 0, deletedRollupRows: 0 };
    for (let n = batch; n === batch; ) {
      n = tasks.run(beforeMs, batch).changes;
      summary.deletedTaskRows += n;
      await yieldToEventLoop();
    }
    for (let n = batch; n === batch; ) {
      n = rollups.run(minuteOf(beforeMs), batch).changes;
      summary.deletedRollupRows += n;
      await yieldToEventLoop();
    }
    return summary;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

import pg from "pg";
import type { TaskRecord } from "../core/types.js";
import { JSON_FIELDS, TASK_COLUMNS, TASK_FIELDS } from "./columns.js";
import {
  ensureMonthPartition,
  listPartitions,
  migratePostgres,
  monthStart,
  type PruneResult,
  pruneHistory,
  quoteIdent,
  type TaskPartition,
  type TasksLayout,
} from "./postgres-migrations.js";
import {
  type HistoryStore,
  type MinuteRollup,
  minuteOf,
  type RollupQuery,
  type SeriesSummary,
  type TaskQuery,
  type TaskUpdate,
} from "./store.js";

export interface PostgresHistoryStoreOptions {
  /** e.g. postgres://postgres@127.0.0.1:5432/forewarm */
  connectionString: string;
  /** Schema holding every table of this store (created if missing). Default "forewarm". */
  schema?: string;
  /** Pool size per process. Default 10. */
  maxConnections?: number;
  /** "auto" uses a TimescaleDB hypertable where the extension can be created. Default "auto". */
  timescale?: "auto" | "off";
  /**
   * Errors that fail no call: an idle pooled connection dropping (the next query reconnects), or a
   * month partition that could not be created (its rows land in the DEFAULT partition meanwhile).
   */
  onBackgroundError?: (err: Error) => void;
}

/** Column names as SQL (PostgreSQL reserves "user"). */
const COLUMNS: Record<keyof TaskRecord, string> = { ...TASK_COLUMNS, user: '"user"' };
const FIELDS = TASK_FIELDS;
/** Result-row key of a column (the quotes are SQL syntax, not part of the name). */
const rowKey = (field: keyof TaskRecord): string => COLUMNS[field].replace(/"/g, "");

type Row = Record<string, unknown>;

const INT8_OID = 20;
/**
 * pg returns int8 as strings (to be safe beyond 2^53); every bigint here is a JS number in
 * TaskRecord, exactly as better-sqlite3 returns SQLite integers.
 */
const pgTypes = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID && format !== "binary") return (v: string) => Number(v);
    return format === "binary" ? pg.types.getTypeParser(oid, "binary") : pg.types.getTypeParser(oid);
  }) as typeof pg.types.getTypeParser,
};

function toColumn(field: keyof TaskRecord, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  // JSON.stringify also stops pg from turning JS arrays into PostgreSQL array literals.
  if (JSON_FIELDS.has(field)) return JSON.stringify(value);
  // PostgreSQL text cannot hold NUL (SQLite can); a worker's stderr in `error` must not make the
  // final update fail, so NUL becomes U+FFFD. The only place the two stores differ.
  if (typeof value === "string" && value.includes("\u0000")) return value.replaceAll("\u0000", "\uFFFD");
  return value;
}

function fromRow(row: Row): TaskRecord {
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

const isFinal = (status: TaskRecord["status"] | undefined): boolean =>
  status === "succeeded" || status === "failed";

/** Text ordering like SQLite's (bytewise), whatever the database's collation is. */
const C = 'COLLATE "C"';

/**
 * The shared production store: tasks in monthly range partitions (or a TimescaleDB hypertable),
 * per-minute rollups per series, and whole-partition retention. Same semantics as the SQLite store
 * (the shared suite in test/history/store-suite.ts runs against both).
 */
export class PostgresHistoryStore implements HistoryStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  private readonly s: string;
  private layoutKind: TasksLayout = "partitioned";
  private version = 0;
  /** Month starts whose partition is known to exist; shared promises dedupe concurrent creation. */
  private readonly knownMonths = new Map<number, Promise<void>>();
  private closed = false;
  private readonly onBackgroundError: (err: Error) => void;

  constructor(options: PostgresHistoryStoreOptions) {
    this.schema = options.schema ?? "forewarm";
    if (this.schema.length === 0 || this.schema.length > 63)
      throw new Error(`bad schema name ${this.schema}`);
    this.s = quoteIdent(this.schema);
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      types: pgTypes,
    });
    // Without a listener an idle client's error would crash the process.
    this.onBackgroundError = options.onBackgroundError ?? (() => undefined);
    this.pool.on("error", (err) => this.onBackgroundError(err));
  }

  /** Connects, migrates the schema (safe when several servers start at once) and loads partitions. */
  static async open(options: PostgresHistoryStoreOptions): Promise<PostgresHistoryStore> {
    const store = new PostgresHistoryStore(options);
    try {
      const client = await store.pool.connect();
      try {
        const result = await migratePostgres(client, store.schema, options.timescale ?? "auto");
        store.version = result.version;
        store.layoutKind = result.layout;
        if (result.layout === "partitioned") {
          for (const p of await listPartitions(client, store.schema)) {
            store.knownMonths.set(p.fromMs, Promise.resolve());
          }
        }
      } finally {
        client.release();
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** Applied schema version (for tests and `forewarm status`). */
  schemaVersion(): number {
    return this.version;
  }

  layout(): TasksLayout {
    return this.layoutKind;
  }

  async partitions(): Promise<TaskPartition[]> {
    return this.withClient((c) => listPartitions(c, this.schema));
  }

  /** Retention: drops whole months of tasks before `beforeMs` and rollup minutes before it. */
  async prune(beforeMs: number): Promise<PruneResult> {
    const result = await this.withClient((c) => pruneHistory(c, this.schema, this.layoutKind, beforeMs));
    for (const month of [...this.knownMonths.keys()]) {
      if (month < result.tasksCutoffMs) this.knownMonths.delete(month);
    }
    return result;
  }

  async insertTask(record: TaskRecord): Promise<void> {
    await this.ensurePartitionFor(record.submittedAt);
    const cols = FIELDS.map((f) => COLUMNS[f]);
    const values = FIELDS.map((f) => toColumn(f, record[f]));
    await this.transaction(async (c) => {
      // The directory's primary key rejects a duplicate id, as SQLite's PRIMARY KEY does.
      await c.query(`INSERT INTO ${this.s}.task_ids (id, submitted_at) VALUES ($1, $2)`, [
        record.id,
        record.submittedAt,
      ]);
      await c.query(
        `INSERT INTO ${this.s}.tasks (${cols.join(",")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(",")})`,
        values,
      );
      await c.query(
        `INSERT INTO ${this.s}.series_minutes ("user", task_type, minute, arrivals, first_arrival, memory_mb)
         VALUES ($1, $2, $3, 1, $4, $5)
         ON CONFLICT ("user", task_type, minute) DO UPDATE SET arrivals = series_minutes.arrivals + 1,
           first_arrival = LEAST(series_minutes.first_arrival, EXCLUDED.first_arrival),
           memory_mb = COALESCE(EXCLUDED.memory_mb, series_minutes.memory_mb)`,
        [
          record.user,
          record.taskType,
          minuteOf(record.submittedAt),
          record.submittedAt,
          record.insight?.routedMemoryMb ?? null,
        ],
      );
    });
  }

  async updateTask(id: string, update: TaskUpdate): Promise<void> {
    const fields = (Object.keys(update) as (keyof TaskRecord)[]).filter((f) => f in COLUMNS);
    if (fields.length === 0) return;
    await this.transaction((c) => this.applyUpdate(c, id, fields, update));
  }

  private async applyUpdate(
    c: pg.ClientBase,
    id: string,
    fields: (keyof TaskRecord)[],
    update: TaskUpdate,
  ): Promise<void> {
    // Locating the partition first lets the UPDATE touch one partition instead of probing all.
    const at = await c.query<{ submitted_at: number }>(
      `SELECT submitted_at FROM ${this.s}.task_ids WHERE id = $1`,
      [id],
    );
    const submittedAt = at.rows[0]?.submitted_at;
    if (submittedAt === undefined) throw new Error(`no task ${id}`);
    const sets = fields.map((f, i) => `${COLUMNS[f]} = $${i + 1}`).join(", ");
    const values = fields.map((f) => toColumn(f, update[f as keyof TaskUpdate]));
    const res = await c.query<Row>(
      `UPDATE ${this.s}.tasks SET ${sets} WHERE id = $${fields.length + 1} AND submitted_at = $${fields.length + 2}
       RETURNING *`,
      [...values, id, submittedAt],
    );
    const row = res.rows[0];
    if (!row) throw new Error(`no task ${id}`);
    if (isFinal(update.status)) await this.addUsage(c, fromRow(row));
  }

  /** Adds a finished task's measured usage to the rollup of the minute it finished in. */
  private async addUsage(c: pg.ClientBase, rec: TaskRecord): Promise<void> {
    const mem = rec.peakMemoryMb ?? 0;
    await c.query(
      `INSERT INTO ${this.s}.series_minutes AS m ("user", task_type, minute, cpu_seconds, peak_memory_mb,
         memory_mb_sum, completed, network_in_bytes, network_out_bytes, storage_bytes_written)
       VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $7, $8)
       ON CONFLICT ("user", task_type, minute) DO UPDATE SET
         cpu_seconds = m.cpu_seconds + excluded.cpu_seconds,
         peak_memory_mb = GREATEST(m.peak_memory_mb, excluded.peak_memory_mb),
         memory_mb_sum = m.memory_mb_sum + excluded.memory_mb_sum,
         completed = m.completed + 1,
         network_in_bytes = m.network_in_bytes + excluded.network_in_bytes,
         network_out_bytes = m.network_out_bytes + excluded.network_out_bytes,
         storage_bytes_written = m.storage_bytes_written + excluded.storage_bytes_written`,
      [
        rec.user,
        rec.taskType,
        minuteOf(rec.finishedAt ?? rec.submittedAt),
        rec.cpuSeconds ?? 0,
        mem,
        rec.networkInBytes ?? 0,
        rec.networkOutBytes ?? 0,
        rec.storageBytesWritten ?? 0,
      ],
    );
  }

  async getTask(id: string): Promise<TaskRecord | null> {
    const res = await this.pool.query<Row>(
      `SELECT t.* FROM ${this.s}.tasks t JOIN ${this.s}.task_ids d
         ON d.id = t.id AND d.submitted_at = t.submitted_at WHERE d.id = $1`,
      [id],
    );
    const row = res.rows[0];
    return row ? fromRow(row) : null;
  }

  async listTasks(query: TaskQuery = {}): Promise<TaskRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const filter = (column: string, value: unknown) => {
      params.push(value);
      where.push(`${column} = $${params.length}`);
    };
    if (query.user !== undefined) filter('"user"', query.user);
    if (query.taskType !== undefined) filter("task_type", query.taskType);
    if (query.status !== undefined) filter("status", query.status);
    params.push(query.limit ?? 100);
    // seq plays SQLite's rowid: insertion order breaks ties between equal submission times.
    const res = await this.pool.query<Row>(
      `SELECT * FROM ${this.s}.tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY submitted_at DESC, seq DESC LIMIT $${params.length}`,
      params,
    );
    return res.rows.map(fromRow);
  }

  async recordConcurrency(
    user: string,
    taskType: string,
    minute: number,
    concurrency: number,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.s}.series_minutes AS m ("user", task_type, minute, peak_concurrency)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT ("user", task_type, minute) DO UPDATE SET
         peak_concurrency = GREATEST(m.peak_concurrency, excluded.peak_concurrency)`,
      [user, taskType, minute, concurrency],
    );
  }

  async rollups(query: RollupQuery = {}): Promise<MinuteRollup[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const filter = (condition: string, value: unknown) => {
      params.push(value);
      where.push(condition.replace("?", `$${params.length}`));
    };
    if (query.user !== undefined) filter('"user" = ?', query.user);
    if (query.taskType !== undefined) filter("task_type = ?", query.taskType);
    if (query.fromMinute !== undefined) filter("minute >= ?", query.fromMinute);
    if (query.toMinute !== undefined) filter("minute <= ?", query.toMinute);
    const res = await this.pool.query<MinuteRollup>(
      `SELECT "user" AS "user", task_type AS "taskType", minute, arrivals,
         peak_concurrency AS "peakConcurrency", cpu_seconds AS "cpuSeconds",
         peak_memory_mb AS "peakMemoryMb", memory_mb_sum AS "memoryMbSum", completed,
         network_in_bytes AS "networkInBytes", network_out_bytes AS "networkOutBytes",
         storage_bytes_written AS "storageBytesWritten", first_arrival AS "firstArrivalMs",
         memory_mb AS "memoryMb"
       FROM ${this.s}.series_minutes ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY "user" ${C}, task_type ${C}, minute`,
      params,
    );
    return res.rows;
  }

  async series(): Promise<SeriesSummary[]> {
    // SUM(bigint) is numeric (a string in pg); cast back to bigint, which parses to a number.
    const res = await this.pool.query<SeriesSummary>(
      `SELECT "user" AS "user", task_type AS "taskType", MIN(minute) AS "firstMinute",
         MAX(minute) AS "lastMinute", SUM(arrivals)::bigint AS arrivals
       FROM ${this.s}.series_minutes GROUP BY "user", task_type HAVING SUM(arrivals) > 0
       ORDER BY "user" ${C}, task_type ${C}`,
    );
    return res.rows;
  }

  /**
   * Fails every queued or running task in the store. Note: with several servers on one database
   * this also fails tasks other live servers are running; call it only where that is intended.
   */
  async failUnfinished(now: number, reason: string, owner?: string): Promise<number> {
    return this.transaction(async (c) => {
      const ids =
        owner === undefined
          ? await c.query<{ id: string }>(
              `SELECT id FROM ${this.s}.tasks WHERE status IN ('queued', 'running') ORDER BY seq FOR UPDATE`,
            )
          : await c.query<{ id: string }>(
              `SELECT id FROM ${this.s}.tasks WHERE status IN ('queued', 'running') AND owner = $1 ORDER BY seq FOR UPDATE`,
              [owner],
            );
      const update: TaskUpdate = {
        status: "failed",
        finishedAt: now,
        exitStatus: "interrupted",
        error: reason,
      };
      const fields = Object.keys(update) as (keyof TaskRecord)[];
      for (const { id } of ids.rows) await this.applyUpdate(c, id, fields, update);
      return ids.rows.length;
    });
  }

  async unfinishedOwners(): Promise<string[]> {
    const r = await this.pool.query<{ owner: string }>(
      `SELECT DISTINCT owner FROM ${this.s}.tasks WHERE status IN ('queued', 'running') AND owner IS NOT NULL ORDER BY owner`,
    );
    return r.rows.map((x) => x.owner);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private ensurePartitionFor(submittedAt: number): Promise<void> {
    if (this.layoutKind !== "partitioned") return Promise.resolve();
    const month = monthStart(submittedAt);
    let pending = this.knownMonths.get(month);
    if (!pending) {
      // A failed creation is retried next time; the DEFAULT partition takes the row meanwhile.
      pending = this.withClient((c) => ensureMonthPartition(c, this.schema, month)).catch((err: Error) => {
        this.knownMonths.delete(month);
        this.onBackgroundError(err);
      });
      this.knownMonths.set(month, pending);
    }
    return pending;
  }

  private async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }

  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      await client.query("ROLLBACK").catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      throw err;
    } finally {
      // A connection that cannot even roll back is discarded rather than returned to the pool.
      client.release(broken);
    }
  }
}

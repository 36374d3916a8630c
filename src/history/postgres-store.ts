import pg from "pg";
import { compareText } from "../core/sorted.js";
import type { TaskRecord } from "../core/types.js";
import { TASK_FIELDS } from "./columns.js";
import { COLUMNS, fromRow, pgTypes, type Row, toColumn } from "./pg-rows.js";
import { SeriesMinutes } from "./pg-series-minutes.js";
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
  FINAL_STATES_SQL,
  type HistoryStore,
  type MinuteRollup,
  type RollupQuery,
  type SeriesSummary,
  TaskEndedError,
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

const isFinal = (status: TaskRecord["status"] | undefined): boolean =>
  status === "succeeded" || status === "failed";

/**
 * The shared production store: tasks in monthly range partitions (or a TimescaleDB hypertable),
 * per-minute rollups per series, and whole-partition retention. Same semantics as the SQLite store
 * (the shared suite in test/history/store-suite.ts runs against both).
 */
export class PostgresHistoryStore implements HistoryStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  private readonly s: string;
  private readonly minutes: SeriesMinutes;
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
    // Without a listener a client's error would crash the process: pg-pool listens on idle clients
    // only, so a session ended while a client is checked out (a database restart, an admin's
    // pg_terminate_backend) needs one of ours. The query in flight fails on its own; the pool drops
    // the broken client when it is released.
    this.onBackgroundError = options.onBackgroundError ?? (() => undefined);
    this.pool.on("error", (err) => this.onBackgroundError(err));
    this.pool.on("connect", (client) => {
      client.on("error", (err) => this.onBackgroundError(err));
    });
    this.minutes = new SeriesMinutes(this.pool, this.s);
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
    const cols = TASK_FIELDS.map((f) => COLUMNS[f]);
    const values = TASK_FIELDS.map((f) => toColumn(f, record[f]));
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
      await this.minutes.addArrival(c, record);
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
    /** Collects the usage to add instead of adding it (failUnfinished adds it in lock order). */
    usageLater?: TaskRecord[],
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
         AND status NOT IN ${FINAL_STATES_SQL}
       RETURNING *`,
      [...values, id, submittedAt],
    );
    const row = res.rows[0];
    if (!row) {
      const now = await c.query<{ status: string }>(
        `SELECT status FROM ${this.s}.tasks WHERE id = $1 AND submitted_at = $2`,
        [id, submittedAt],
      );
      const status = now.rows[0]?.status;
      throw status === undefined ? new Error(`no task ${id}`) : new TaskEndedError(id, status);
    }
    if (!isFinal(update.status)) return;
    if (usageLater) usageLater.push(fromRow(row));
    else await this.minutes.addUsage(c, fromRow(row));
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

  recordConcurrency(user: string, taskType: string, minute: number, concurrency: number): Promise<void> {
    return this.minutes.recordConcurrency(user, taskType, minute, concurrency);
  }

  rollups(query: RollupQuery = {}): Promise<MinuteRollup[]> {
    return this.minutes.rollups(query);
  }

  series(): Promise<SeriesSummary[]> {
    return this.minutes.series();
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
      const ended: TaskRecord[] = [];
      for (const { id } of ids.rows) await this.applyUpdate(c, id, fields, update, ended);
      // The rollup rows in one order, (user, type) bytewise, whatever the tasks' order: two of these
      // at once (the leader failing a dead server's tasks while another server cleans up its own at
      // start) took the same rows in opposite orders and deadlocked.
      ended.sort((a, b) => compareText(a.user, b.user) || compareText(a.taskType, b.taskType));
      for (const rec of ended) await this.minutes.addUsage(c, rec);
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

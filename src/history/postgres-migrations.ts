import type { ClientBase } from "pg";

/**
 * Schema DDL for the PostgreSQL history store: versioned migrations and the monthly partitions of
 * `tasks`. Everything lives in one schema so that several deployments (and test runs) can share a
 * database. Every DDL step runs in a transaction holding an advisory lock keyed by the schema, so
 * two servers starting (or rolling a month over) at the same moment serialise instead of racing.
 */

/** How `tasks` is split by time: native range partitions, or a TimescaleDB hypertable. */
export type TasksLayout = "partitioned" | "hypertable";

export interface PostgresMigration {
  version: number;
  description: string;
  sql: (schema: string, layout: TasksLayout) => string;
}

/** Advisory-lock classes (first key of the two-int form); the second key is hashtext(schema). */
export const MIGRATION_LOCK_CLASS = 0x66770001;
export const PARTITION_LOCK_CLASS = 0x66770002;

const MONTH_CHUNK_MS = 30 * 24 * 3600 * 1000;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Table columns mirror SQLite's: INTEGER → bigint, REAL → double precision, JSON text → json. */
export const POSTGRES_MIGRATIONS: PostgresMigration[] = [
  {
    version: 1,
    description: "tasks (time-partitioned), task id directory and per-minute series rollups",
    sql: (s, layout) => `
      -- Unique constraints on a partitioned table must contain the partition key, so global id
      -- uniqueness (SQLite's PRIMARY KEY) and id → partition lookups live in this directory.
      CREATE TABLE ${s}.task_ids (id text PRIMARY KEY, submitted_at bigint NOT NULL);
      CREATE INDEX task_ids_time ON ${s}.task_ids (submitted_at);
      CREATE TABLE ${s}.tasks (
        seq bigserial NOT NULL,
        id text NOT NULL,
        "user" text NOT NULL,
        task_type text NOT NULL,
        runtime text NOT NULL,
        entry text,
        fn text NOT NULL,
        dependencies json NOT NULL,
        input_bytes bigint NOT NULL,
        priority bigint NOT NULL,
        status text NOT NULL,
        submitted_at bigint NOT NULL,
        started_at bigint,
        finished_at bigint,
        queue_wait_ms double precision,
        start_latency_ms double precision,
        cold boolean,
        environment_id text,
        cpu_seconds double precision,
        peak_memory_mb double precision,
        network_in_bytes bigint,
        network_out_bytes bigint,
        storage_bytes_written bigint,
        output_bytes bigint,
        exit_status text,
        error text,
        output json,
        lines_of_code bigint,
        cyclomatic bigint,
        function_count bigint,
        halstead_volume double precision,
        analysis_error text,
        PRIMARY KEY (id, submitted_at)
      ) ${layout === "partitioned" ? "PARTITION BY RANGE (submitted_at)" : ""};
      ${
        layout === "partitioned"
          ? `CREATE TABLE ${s}.tasks_default PARTITION OF ${s}.tasks DEFAULT;`
          : `SELECT create_hypertable(${quoteLiteral(`${s}.tasks`)}, 'submitted_at',
               chunk_time_interval => ${MONTH_CHUNK_MS}::bigint);`
      }
      CREATE INDEX tasks_series_time ON ${s}.tasks ("user", task_type, submitted_at);
      CREATE INDEX tasks_status ON ${s}.tasks (status);
      CREATE TABLE ${s}.series_minutes (
        "user" text NOT NULL,
        task_type text NOT NULL,
        minute bigint NOT NULL,
        arrivals bigint NOT NULL DEFAULT 0,
        peak_concurrency bigint NOT NULL DEFAULT 0,
        cpu_seconds double precision NOT NULL DEFAULT 0,
        peak_memory_mb double precision NOT NULL DEFAULT 0,
        memory_mb_sum double precision NOT NULL DEFAULT 0,
        completed bigint NOT NULL DEFAULT 0,
        network_in_bytes bigint NOT NULL DEFAULT 0,
        network_out_bytes bigint NOT NULL DEFAULT 0,
        storage_bytes_written bigint NOT NULL DEFAULT 0,
        PRIMARY KEY ("user", task_type, minute)
      );
      CREATE INDEX series_minutes_time ON ${s}.series_minutes (minute);
    `,
  },
  {
    version: 2,
    description: "static-analysis imports and the classification/estimate of each task",
    // On a partitioned table (or hypertable) ADD COLUMN reaches every partition (chunk).
    sql: (s) => `
      ALTER TABLE ${s}.tasks ADD COLUMN imports json;
      ALTER TABLE ${s}.tasks ADD COLUMN insight json;
    `,
  },
  {
    version: 3,
    description: "owner: the server that accepted each task",
    sql: (s) => `
      ALTER TABLE ${s}.tasks ADD COLUMN owner text;
      CREATE INDEX tasks_owner_status ON ${s}.tasks (owner, status);
    `,
  },
  {
    version: 4,
    description: "each series minute's earliest arrival (the order series arrived in, for relearning)",
    sql: (s) => `
      ALTER TABLE ${s}.series_minutes ADD COLUMN first_arrival bigint;
    `,
  },
  {
    version: 5,
    description: "the environment memory each series minute's arrivals were routed for (window prices)",
    sql: (s) => `
      ALTER TABLE ${s}.series_minutes ADD COLUMN memory_mb double precision;
    `,
  },
];

/** Runs `fn` in a transaction that first takes the given advisory lock for this schema. */
export async function withSchemaLock<T>(
  client: ClientBase,
  lockClass: number,
  schema: string,
  fn: () => Promise<T>,
): Promise<T> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [lockClass, schema]);
    const out = await fn();
    await client.query("COMMIT");
    return out;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/**
 * The layout is chosen once, when the schema is first created, and remembered in `store_meta`:
 * a hypertable only where the timescaledb extension is available and can be created (it needs
 * shared_preload_libraries); anything else falls back to native partitions.
 */
async function chooseLayout(client: ClientBase, s: string, timescale: "auto" | "off"): Promise<TasksLayout> {
  const known = await client.query<{ value: string }>(
    `SELECT value FROM ${s}.store_meta WHERE key = 'tasks_layout'`,
  );
  const stored = known.rows[0]?.value;
  if (stored === "partitioned" || stored === "hypertable") return stored;
  let layout: TasksLayout = "partitioned";
  if (timescale === "auto") {
    const available = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'");
    if ((available.rowCount ?? 0) > 0) {
      // UNTESTED here (the extension is not installable on this machine); a savepoint keeps a
      // failing CREATE EXTENSION from aborting the migration.
      await client.query("SAVEPOINT timescale");
      try {
        await client.query("CREATE EXTENSION IF NOT EXISTS timescaledb");
        await client.query("RELEASE SAVEPOINT timescale");
        layout = "hypertable";
      } catch {
        await client.query("ROLLBACK TO SAVEPOINT timescale");
      }
    }
  }
  await client.query(`INSERT INTO ${s}.store_meta (key, value) VALUES ('tasks_layout', $1)`, [layout]);
  return layout;
}

export interface MigrationResult {
  version: number;
  layout: TasksLayout;
}

/** Brings `schema` up to the newest migration; safe to call from several processes at once. */
export async function migratePostgres(
  client: ClientBase,
  schema: string,
  timescale: "auto" | "off" = "auto",
  /** Stop after this version (tests of upgrades from an older schema). */
  upToVersion = Number.POSITIVE_INFINITY,
): Promise<MigrationResult> {
  const s = quoteIdent(schema);
  // CREATE SCHEMA/TABLE IF NOT EXISTS are not race-free on their own: hence the lock.
  await withSchemaLock(client, MIGRATION_LOCK_CLASS, schema, async () => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations
         (version integer PRIMARY KEY, description text NOT NULL, applied_at bigint NOT NULL)`,
    );
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.store_meta (key text PRIMARY KEY, value text NOT NULL)`,
    );
  });
  let layout: TasksLayout = "partitioned";
  for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version <= upToVersion)) {
    layout = await withSchemaLock(client, MIGRATION_LOCK_CLASS, schema, async () => {
      const chosen = await chooseLayout(client, s, timescale);
      const applied = await client.query(`SELECT 1 FROM ${s}.schema_migrations WHERE version = $1`, [
        m.version,
      ]);
      if ((applied.rowCount ?? 0) > 0) return chosen;
      await client.query(m.sql(s, chosen));
      await client.query(
        `INSERT INTO ${s}.schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)`,
        [m.version, m.description, Date.now()],
      );
      return chosen;
    });
  }
  const v = await client.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${s}.schema_migrations`);
  return { version: v.rows[0]?.v ?? 0, layout };
}

// ---- monthly partitions -------------------------------------------------------------------------

/** Start (epoch ms, UTC) of the calendar month containing `ms`. */
export function monthStart(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export function nextMonthStart(ms: number): number {
  const d = new Date(monthStart(ms));
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

const PARTITION_NAME = /^tasks_p(\d{4,})(\d{2})$/;

export function partitionName(month: number): string {
  const d = new Date(month);
  return `tasks_p${String(d.getUTCFullYear()).padStart(4, "0")}${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** Month start of a partition we created, or null for any other table (e.g. tasks_default). */
export function partitionMonth(name: string): number | null {
  const m = PARTITION_NAME.exec(name);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
}

export interface TaskPartition {
  name: string;
  /** Inclusive lower bound (epoch ms). */
  fromMs: number;
  /** Exclusive upper bound (epoch ms). */
  toMs: number;
}

/** The monthly partitions of `tasks` (not the DEFAULT one), oldest first. */
export async function listPartitions(client: ClientBase, schema: string): Promise<TaskPartition[]> {
  const res = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass($1)`,
    [`${quoteIdent(schema)}.tasks`],
  );
  const out: TaskPartition[] = [];
  for (const { name } of res.rows) {
    const from = partitionMonth(name);
    if (from !== null) out.push({ name, fromMs: from, toMs: nextMonthStart(from) });
  }
  return out.sort((a, b) => a.fromMs - b.fromMs);
}

/**
 * Creates the partition for the month starting at `month` unless it exists. Built detached and
 * then attached (a lighter lock on `tasks` than CREATE … PARTITION OF), after moving in any rows of
 * that month the DEFAULT partition caught meanwhile — attaching would fail otherwise.
 */
export async function ensureMonthPartition(client: ClientBase, schema: string, month: number): Promise<void> {
  const s = quoteIdent(schema);
  const name = partitionName(month);
  const part = `${s}.${quoteIdent(name)}`;
  const to = nextMonthStart(month);
  await withSchemaLock(client, PARTITION_LOCK_CLASS, schema, async () => {
    if ((await listPartitions(client, schema)).some((p) => p.name === name)) return;
    await client.query(`CREATE TABLE ${part} (LIKE ${s}.tasks INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    await client.query(
      `WITH moved AS (DELETE FROM ${s}.tasks_default WHERE submitted_at >= $1 AND submitted_at < $2 RETURNING *)
       INSERT INTO ${part} SELECT * FROM moved`,
      [month, to],
    );
    await client.query(
      `ALTER TABLE ${s}.tasks ATTACH PARTITION ${part} FOR VALUES FROM (${month}) TO (${to})`,
    );
  });
}

/** Task states that are not final (SQL list). */
const UNFINISHED = "('queued', 'running')";

export interface PruneResult {
  /** Finished tasks before this instant are gone: the start of the month containing `beforeMs`. */
  tasksCutoffMs: number;
  /** Months dropped whole (those still holding a queued or running task are kept). */
  droppedPartitions: string[];
  /** Rows deleted individually (a kept month's finished rows, the DEFAULT partition, a hypertable). */
  deletedTaskRows: number;
  deletedRollupRows: number;
}

/**
 * Retention: drops every whole month before `beforeMs` (tasks are kept per month, so the cutoff is
 * rounded down to a month start) and deletes rollup minutes before `beforeMs`.
 */
export async function pruneHistory(
  client: ClientBase,
  schema: string,
  layout: TasksLayout,
  beforeMs: number,
): Promise<PruneResult> {
  const s = quoteIdent(schema);
  const cutoff = monthStart(beforeMs);
  return withSchemaLock(client, PARTITION_LOCK_CLASS, schema, async () => {
    const dropped: string[] = [];
    let deletedTaskRows = 0;
    // Only finished tasks go, as in SQLite: a queued or running task of an old month must still reach
    // its final state (its update, or failUnfinished for a server that is gone).
    if (layout === "partitioned") {
      for (const p of await listPartitions(client, schema)) {
        if (p.toMs > cutoff) continue;
        const part = `${s}.${quoteIdent(p.name)}`;
        const open = await client.query(`SELECT 1 FROM ${part} WHERE status IN ${UNFINISHED} LIMIT 1`);
        if (open.rowCount === 0) {
          await client.query(`DROP TABLE ${part}`);
          dropped.push(p.name);
        } else {
          // Kept until its last unfinished task ends (a later prune drops it); its finished rows go now.
          const done = await client.query(`DELETE FROM ${part} WHERE status NOT IN ${UNFINISHED}`);
          deletedTaskRows += done.rowCount ?? 0;
        }
      }
      const def = await client.query(
        `DELETE FROM ${s}.tasks_default WHERE submitted_at < $1 AND status NOT IN ${UNFINISHED}`,
        [cutoff],
      );
      deletedTaskRows += def.rowCount ?? 0;
    } else {
      // UNTESTED (TimescaleDB is not installable here). Row deletes, not drop_chunks: a chunk may hold
      // unfinished tasks.
      const rest = await client.query(
        `DELETE FROM ${s}.tasks WHERE submitted_at < $1 AND status NOT IN ${UNFINISHED}`,
        [cutoff],
      );
      deletedTaskRows = rest.rowCount ?? 0;
    }
    // The ids of tasks that are gone are free again; those of kept tasks stay taken.
    await client.query(
      `DELETE FROM ${s}.task_ids d WHERE d.submitted_at < $1
         AND NOT EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.id = d.id)`,
      [cutoff],
    );
    const rollups = await client.query(`DELETE FROM ${s}.series_minutes WHERE minute < $1`, [
      Math.floor(beforeMs / 60_000),
    ]);
    return {
      tasksCutoffMs: cutoff,
      droppedPartitions: dropped,
      deletedTaskRows,
      deletedRollupRows: rollups.rowCount ?? 0,
    };
  });
}

/**
 * Versioned schema migrations for the SQL history stores. Each entry runs once, in order, inside a
 * transaction; the applied version is kept in `schema_migrations`.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "tasks and per-minute series rollups",
    sql: `
      CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        task_type TEXT NOT NULL,
        runtime TEXT NOT NULL,
        entry TEXT,
        fn TEXT NOT NULL,
        dependencies TEXT NOT NULL,
        input_bytes INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        submitted_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        queue_wait_ms REAL,
        start_latency_ms REAL,
        cold INTEGER,
        environment_id TEXT,
        cpu_seconds REAL,
        peak_memory_mb REAL,
        network_in_bytes INTEGER,
        network_out_bytes INTEGER,
        storage_bytes_written INTEGER,
        output_bytes INTEGER,
        exit_status TEXT,
        error TEXT,
        output TEXT,
        lines_of_code INTEGER,
        cyclomatic INTEGER,
        function_count INTEGER,
        halstead_volume REAL,
        analysis_error TEXT
      );
      CREATE INDEX tasks_series_time ON tasks (user, task_type, submitted_at);
      CREATE INDEX tasks_status ON tasks (status);
      CREATE TABLE series_minutes (
        user TEXT NOT NULL,
        task_type TEXT NOT NULL,
        minute INTEGER NOT NULL,
        arrivals INTEGER NOT NULL DEFAULT 0,
        peak_concurrency INTEGER NOT NULL DEFAULT 0,
        cpu_seconds REAL NOT NULL DEFAULT 0,
        peak_memory_mb REAL NOT NULL DEFAULT 0,
        memory_mb_sum REAL NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        network_in_bytes INTEGER NOT NULL DEFAULT 0,
        network_out_bytes INTEGER NOT NULL DEFAULT 0,
        storage_bytes_written INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, task_type, minute)
      ) WITHOUT ROWID;
      CREATE INDEX series_minutes_time ON series_minutes (minute);
    `,
  },
  {
    version: 2,
    description: "static-analysis imports and the classification/estimate of each task",
    sql: `
      ALTER TABLE tasks ADD COLUMN imports TEXT;
      ALTER TABLE tasks ADD COLUMN insight TEXT;
    `,
  },
  {
    version: 3,
    description: "owner: the server that accepted each task",
    sql: `
      ALTER TABLE tasks ADD COLUMN owner TEXT;
      CREATE INDEX tasks_owner_status ON tasks (owner, status);
    `,
  },
  {
    version: 4,
    description: "each series minute's earliest arrival (the order series arrived in, for relearning)",
    sql: `
      ALTER TABLE series_minutes ADD COLUMN first_arrival INTEGER;
    `,
  },
  {
    version: 5,
    description: "the environment memory each series minute's arrivals were routed for (window prices)",
    sql: `
      ALTER TABLE series_minutes ADD COLUMN memory_mb REAL;
    `,
  },
];

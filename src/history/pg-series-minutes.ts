import type { ClientBase, Pool } from "pg";
import type { TaskRecord } from "../core/types.js";
import {
  arrivalRollup,
  type MinuteRollup,
  type RollupQuery,
  type SeriesSummary,
  usageRollup,
} from "./store.js";

/** Text ordering like SQLite's (bytewise), whatever the database's collation is. */
const C = 'COLLATE "C"';

/**
 * The per-minute rollups of each series (table series_minutes) in the PostgreSQL store: the upserts
 * that arrivals, finished tasks and concurrency samples add, and the reads of rollups and series.
 * Arrivals and usage are added on the caller's client, inside its transaction.
 */
export class SeriesMinutes {
  /** `s` is the store's schema, quoted. */
  constructor(
    private readonly pool: Pool,
    private readonly s: string,
  ) {}

  /** Counts an inserted task as an arrival in the minute it was submitted. */
  async addArrival(c: ClientBase, record: TaskRecord): Promise<void> {
    await c.query(
      `INSERT INTO ${this.s}.series_minutes ("user", task_type, minute, arrivals, first_arrival, memory_mb)
       VALUES ($1, $2, $3, 1, $4, $5)
       ON CONFLICT ("user", task_type, minute) DO UPDATE SET arrivals = series_minutes.arrivals + 1,
         first_arrival = LEAST(series_minutes.first_arrival, EXCLUDED.first_arrival),
         memory_mb = COALESCE(EXCLUDED.memory_mb, series_minutes.memory_mb)`,
      arrivalRollup(record),
    );
  }

  /** Adds a finished task's measured usage to the rollup of the minute it finished in. */
  async addUsage(c: ClientBase, rec: TaskRecord): Promise<void> {
    const u = usageRollup(rec);
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
      [u.user, u.type, u.minute, u.cpu, u.mem, u.nin, u.nout, u.sto],
    );
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
}

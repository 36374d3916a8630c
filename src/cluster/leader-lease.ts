import { EventEmitter } from "node:events";
import os from "node:os";
import pg from "pg";
import { quoteIdent } from "../history/postgres-migrations.js";

/**
 * Leader election for several forewarm servers on one PostgreSQL: a session advisory lock held
 * on a dedicated connection. The server releases it when that connection ends, so a killed
 * leader (the kernel closes its socket) frees it at once and a follower takes over on its next
 * attempt, within `retryMs`. A `leases` table records who holds it, for other servers and the
 * dashboard.
 */
export interface LeaderLeaseOptions {
  connectionString: string;
  /** Schema of the `leases` table (created if missing). Default "forewarm". */
  schema?: string;
  /** One lease per name; servers of one deployment share it. Default "planner". */
  name?: string;
  /** This participant's id; default host:pid:random. */
  holderId?: string;
  /** Follower: how often to try to acquire. Default 2000 ms. */
  retryMs?: number;
  /** Leader: how often to heartbeat the connection. Default retryMs. */
  heartbeatMs?: number;
  /** A heartbeat slower than this counts as failed and the leader steps down. Default 2 × heartbeatMs. */
  heartbeatTimeoutMs?: number;
  /**
   * A connection attempt or a query the database does not answer within this long fails (and is
   * retried): a database that accepts connections but never answers must not hang start() or stop().
   * Default 10000 ms.
   */
  timeoutMs?: number;
  onChange?: (leader: boolean) => void;
  /** Connection and query errors (the lease keeps retrying). */
  onError?: (err: Error) => void;
}

export interface LeaseHolder {
  name: string;
  holderId: string;
  host: string;
  pid: number;
  /** The holder's PostgreSQL session (pg_backend_pid), for operators: terminating it frees the lease. */
  backendPid: number;
  acquiredAt: number;
  heartbeatAt: number;
  /** Age of the last heartbeat by the database's clock (no skew between servers). */
  heartbeatAgeMs: number;
  heartbeatMs: number;
  /** True when the holder has missed heartbeats: it is probably gone and about to be replaced. */
  stale: boolean;
}

/** Advisory-lock class for leases (first key); the second key is hashtext(schema.name). */
export const LEASE_LOCK_CLASS = 0x66770010;
const TABLE_LOCK_CLASS = 0x66770011;
const DB_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

interface LeaseEvents {
  change: [leader: boolean];
}

export class LeaderLease extends EventEmitter<LeaseEvents> {
  readonly holderId: string;
  readonly name: string;
  private readonly opts: Required<Omit<LeaderLeaseOptions, "onChange" | "onError" | "holderId">>;
  private readonly onError: (err: Error) => void;
  private readonly table: string;
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private leader = false;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  /** The tick in flight, so that stop() can wait for it. */
  private ticking: Promise<void> = Promise.resolve();

  constructor(options: LeaderLeaseOptions) {
    super();
    const retryMs = options.retryMs ?? 2000;
    const heartbeatMs = options.heartbeatMs ?? retryMs;
    this.opts = {
      connectionString: options.connectionString,
      schema: options.schema ?? "forewarm",
      name: options.name ?? "planner",
      retryMs,
      heartbeatMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 2 * heartbeatMs,
      timeoutMs: options.timeoutMs ?? 10_000,
    };
    this.name = this.opts.name;
    this.holderId =
      options.holderId ?? `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.table = `${quoteIdent(this.opts.schema)}.leases`;
    this.onError = options.onError ?? (() => undefined);
    if (options.onChange) this.on("change", options.onChange);
  }

  isLeader(): boolean {
    return this.leader;
  }

  /** Begins acquiring; resolves after the first attempt (so isLeader() is meaningful at once). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.ticking = this.tick();
    await this.ticking;
  }

  /** Releases the lease (if held) and closes the connection. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    const client = this.client;
    if (client && this.leader) {
      // Mark the row released first so that readers do not wait for it to go stale.
      await client
        .query(`UPDATE ${this.table} SET heartbeat_at = 0 WHERE name = $1 AND holder_id = $2`, [
          this.name,
          this.holderId,
        ])
        .catch((err: Error) => this.onError(err));
    }
    this.dropConnection(); // ending the session releases the advisory lock
    this.setLeader(false);
  }

  /** The current holder as recorded in `leases`, or null if nobody has held this lease yet. */
  async leaderInfo(): Promise<LeaseHolder | null> {
    // A stopped lease reads through a short-lived session so as not to leave one open.
    const client = this.running ? await this.connection() : await this.openReader();
    try {
      return await this.readHolder(client);
    } finally {
      if (!this.running) await client.end().catch(() => undefined);
    }
  }

  private async openReader(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      connectionTimeoutMillis: this.opts.timeoutMs,
      query_timeout: this.opts.timeoutMs,
    });
    client.on("error", (err) => this.onError(err));
    await client.connect();
    await this.ensureTable(client);
    return client;
  }

  private async readHolder(client: pg.Client): Promise<LeaseHolder | null> {
    const res = await client.query<{
      name: string;
      holder_id: string;
      host: string;
      pid: number;
      backend_pid: number;
      acquired_at: string;
      heartbeat_at: string;
      heartbeat_ms: number;
      age_ms: string;
    }>(
      `SELECT name, holder_id, host, pid, backend_pid, acquired_at, heartbeat_at, heartbeat_ms,
         ${DB_NOW_MS} - heartbeat_at AS age_ms FROM ${this.table} WHERE name = $1`,
      [this.name],
    );
    const r = res.rows[0];
    if (!r) return null;
    const heartbeatAgeMs = Number(r.age_ms);
    return {
      name: r.name,
      holderId: r.holder_id,
      host: r.host,
      pid: r.pid,
      backendPid: r.backend_pid,
      acquiredAt: Number(r.acquired_at),
      heartbeatAt: Number(r.heartbeat_at),
      heartbeatAgeMs,
      heartbeatMs: r.heartbeat_ms,
      stale: heartbeatAgeMs > 3 * r.heartbeat_ms,
    };
  }

  private schedule(): void {
    if (!this.running) return;
    const delay = this.leader ? this.opts.heartbeatMs : this.opts.retryMs;
    this.timer = setTimeout(() => {
      this.ticking = this.tick();
    }, delay);
  }

  private async tick(): Promise<void> {
    try {
      if (this.leader) await this.heartbeat();
      else await this.tryAcquire();
    } catch (err) {
      this.onError(err as Error);
      // Whatever failed, a connection in an unknown state may still hold the lock: drop it.
      this.dropConnection();
      this.setLeader(false);
    }
    this.schedule();
  }

  private async tryAcquire(): Promise<void> {
    const client = await this.connection();
    const got = await client.query<{ ok: boolean }>(
      "SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok",
      [LEASE_LOCK_CLASS, `${this.opts.schema}.${this.name}`],
    );
    if (!got.rows[0]?.ok || !this.running) {
      if (got.rows[0]?.ok) this.dropConnection();
      return;
    }
    await client.query(
      `INSERT INTO ${this.table} (name, holder_id, host, pid, backend_pid, acquired_at, heartbeat_at, heartbeat_ms)
       VALUES ($1, $2, $3, $4, pg_backend_pid(), ${DB_NOW_MS}, ${DB_NOW_MS}, $5)
       ON CONFLICT (name) DO UPDATE SET holder_id = excluded.holder_id, host = excluded.host,
         pid = excluded.pid, backend_pid = excluded.backend_pid, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
         heartbeat_ms = excluded.heartbeat_ms`,
      [this.name, this.holderId, os.hostname(), process.pid, this.opts.heartbeatMs],
    );
    this.setLeader(true);
  }

  /** Proves the connection (and so the lock) is alive; a failure or a timeout means step down. */
  private async heartbeat(): Promise<void> {
    const client = await this.connection();
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timeout = setTimeout(
        () => reject(new Error(`lease heartbeat took over ${this.opts.heartbeatTimeoutMs} ms`)),
        this.opts.heartbeatTimeoutMs,
      );
    });
    try {
      await Promise.race([
        client.query(
          `UPDATE ${this.table} SET heartbeat_at = ${DB_NOW_MS} WHERE name = $1 AND holder_id = $2`,
          [this.name, this.holderId],
        ),
        timedOut,
      ]);
    } finally {
      clearTimeout(timeout);
    }
  }

  /** The lease's session, opened on demand; concurrent callers share one connection attempt. */
  private connection(): Promise<pg.Client> {
    if (!this.connecting) this.connecting = this.openConnection();
    return this.connecting;
  }

  private async openConnection(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      keepAlive: true,
      connectionTimeoutMillis: this.opts.timeoutMs,
      query_timeout: this.opts.timeoutMs,
    });
    // The session's end is the lock's end: whatever ends it, we are no longer leader.
    client.on("error", (err) => {
      this.onError(err);
      if (this.client === client) this.dropConnection();
      this.setLeader(false);
    });
    client.on("end", () => {
      if (this.client === client) {
        this.client = null;
        this.connecting = null;
        this.setLeader(false);
      }
    });
    this.client = client;
    try {
      await client.connect();
      await this.ensureTable(client);
    } catch (err) {
      if (this.client === client) this.dropConnection();
      else client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  private async ensureTable(client: pg.Client): Promise<void> {
    const schema = quoteIdent(this.opts.schema);
    await client.query("BEGIN");
    try {
      // IF NOT EXISTS alone races when two servers start together; the lock serialises them.
      await client.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [
        TABLE_LOCK_CLASS,
        this.opts.schema,
      ]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (
           name text PRIMARY KEY, holder_id text NOT NULL, host text NOT NULL, pid integer NOT NULL,
           backend_pid integer NOT NULL,
           acquired_at bigint NOT NULL, heartbeat_at bigint NOT NULL, heartbeat_ms integer NOT NULL)`,
      );
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  }

  /** Closes the session without waiting: a dead peer must not stall stepping down. */
  private dropConnection(): void {
    const client = this.client;
    this.client = null;
    this.connecting = null;
    if (!client) return;
    client.end().catch(() => undefined);
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.emit("change", leader);
  }
}

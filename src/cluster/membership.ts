import pg from "pg";

/** Advisory-lock class for server liveness; the second key is hashtext(server id). */
export const MEMBER_LOCK_CLASS = 0x66770020;

/** What a server hears of its own liveness session (logs and metrics hang here). */
export interface MembershipEvents {
  /** The session ended: the other servers may take this one for dead (and fail its running tasks). */
  lost?(err: Error | null): void;
  /** The lock is held again after a loss. */
  regained?(): void;
  /** A retry after a loss failed (the database is unreachable, or the id is held elsewhere). */
  retryFailed?(err: Error): void;
}

export interface MembershipOptions {
  /** Wait between attempts to take the lock again after the session ended (default 1 s). */
  retryMs?: number;
  events?: MembershipEvents;
}

/**
 * Server liveness through PostgreSQL: each server holds a session advisory lock keyed by its id for
 * as long as its connection lives. The lock vanishes with the process (the kernel closes the socket),
 * so "can I take X's lock?" answers "is server X gone?" without heartbeat tables or clocks. A session
 * that ends while the server runs (a database restart, a dropped connection, an administrator's
 * pg_terminate_backend) is opened again and the lock retaken: otherwise a live server would look dead
 * for the rest of its life, and the leader would fail every task it accepts afterwards.
 */
export class ClusterMembership {
  private own: pg.Client | null = null;
  private running = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly retryMs: number;
  /** Sessions that have ended (one may end before a retry makes it ours). */
  private readonly ended = new WeakSet<pg.Client>();

  constructor(
    private readonly connectionString: string,
    readonly serverId: string,
    private readonly opts: MembershipOptions = {},
  ) {
    this.retryMs = opts.retryMs ?? 1_000;
  }

  /** Takes this server's lock; refuses (throws) when a live server already holds the id. */
  async start(): Promise<void> {
    this.own = await this.acquire();
    this.running = true;
  }

  /** This server holds its liveness lock now (false between a lost session and its retaking). */
  get live(): boolean {
    return this.own !== null;
  }

  private async acquire(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    // The session's end is the lock's end, whatever ends it.
    c.on("error", (err) => this.dropped(c, err));
    c.on("end", () => {
      this.ended.add(c);
      this.dropped(c, null);
    });
    try {
      await c.connect();
      const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok", [
        MEMBER_LOCK_CLASS,
        this.serverId,
      ]);
      if (!r.rows[0]?.ok)
        throw new Error(`another live server already uses the server id "${this.serverId}"`);
    } catch (err) {
      c.removeAllListeners("end");
      await c.end().catch(() => {});
      throw err;
    }
    return c;
  }

  private dropped(c: pg.Client, err: Error | null): void {
    if (this.own !== c) return;
    this.own = null;
    c.end().catch(() => {});
    if (!this.running) return;
    this.opts.events?.lost?.(err);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.running) return;
    this.retryTimer = setTimeout(() => void this.retry(), this.retryMs);
    this.retryTimer.unref();
  }

  private async retry(): Promise<void> {
    this.retryTimer = null;
    if (!this.running) return;
    let c: pg.Client;
    try {
      c = await this.acquire();
    } catch (err) {
      this.opts.events?.retryFailed?.(err as Error);
      this.scheduleRetry();
      return;
    }
    if (!this.running) {
      await c.end().catch(() => {});
      return;
    }
    // The new session already ended (its 'end' found it not yet ours): try again.
    if (this.ended.has(c)) {
      this.scheduleRetry();
      return;
    }
    this.own = c;
    this.opts.events?.regained?.();
  }

  /** True when no live server holds `serverId`'s lock (it died, or never ran). */
  async isGone(serverId: string): Promise<boolean> {
    if (serverId === this.serverId) return false;
    const c = new pg.Client({ connectionString: this.connectionString });
    c.on("error", () => {});
    await c.connect();
    try {
      const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok", [
        MEMBER_LOCK_CLASS,
        serverId,
      ]);
      return r.rows[0]?.ok === true;
    } finally {
      await c.end(); // releases the lock if we took it
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const c = this.own;
    this.own = null;
    await c?.end().catch(() => {});
  }
}

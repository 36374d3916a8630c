import pg from "pg";

/** Advisory-lock class for server liveness; the second key is hashtext(server id). */
export const MEMBER_LOCK_CLASS = 0x66770020;

/** Attempts, START_RETRY_MS apart, to take a server's own lock at start while another session holds it. */
const START_ATTEMPTS = 6;
const START_RETRY_MS = 200;

/** Sessions that check (and hold while failing tasks of) another server's id call themselves this. */
const CHECK_APPLICATION = "forewarm-gone-check";
/** How long a starting server waits for such a check to let its id go. */
const CHECK_WAIT_MS = 120_000;

/** The server id's lock is held by another session: a live server uses the id (or a check of it). */
export class IdInUseError extends Error {
  constructor(serverId: string) {
    super(`another live server already uses the server id "${serverId}"`);
  }
}

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
  /**
   * Wait between attempts to take the lock again after the session ended, and between checks that the
   * session still answers (default 1 s).
   */
  retryMs?: number;
  /** A check the database does not answer within this long counts as a lost session (default 10 s). */
  checkTimeoutMs?: number;
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
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  /** A retake in progress (stop waits for it, so no session outlives the server). */
  private acquiring: Promise<pg.Client> | null = null;
  private readonly retryMs: number;
  private readonly checkTimeoutMs: number;
  /** Sessions that have ended (one may end before a retry makes it ours). */
  private readonly ended = new WeakSet<pg.Client>();

  constructor(
    private readonly connectionString: string,
    readonly serverId: string,
    private readonly opts: MembershipOptions = {},
  ) {
    this.retryMs = opts.retryMs ?? 1_000;
    this.checkTimeoutMs = opts.checkTimeoutMs ?? 10_000;
  }

  /**
   * Takes this server's lock; refuses (throws) when a live server already holds the id. A lock held
   * for a moment (the leader checking whether this id is gone, see whileGone) is waited out: a few
   * attempts over about a second before refusing.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + CHECK_WAIT_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        this.own = await this.acquire();
        break;
      } catch (err) {
        if (!(err instanceof IdInUseError)) throw err;
        // A leader failing this id's old tasks holds the lock as long as that takes: wait for it. A
        // lock let go between the attempt and the look is tried again at once.
        const holder =
          Date.now() < deadline ? await this.lockHolder().catch(() => "other" as const) : "other";
        if (holder === "none") continue;
        if (holder !== "check" && attempt >= START_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, START_RETRY_MS));
      }
    }
    this.running = true;
    this.checkTimer = setInterval(() => void this.check(), this.retryMs);
    this.checkTimer.unref();
  }

  /**
   * A session whose peer vanished without a reset (a database host that failed over, a network
   * partition) reports nothing for a long time, while the lock is gone: a query that does not come
   * back in time ends the session, which starts the retake.
   */
  private async check(): Promise<void> {
    const c = this.own;
    if (!c || this.checking) return;
    this.checking = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), this.checkTimeoutMs);
    });
    try {
      const answer = await Promise.race([c.query("SELECT 1"), late]);
      if (answer === "late")
        throw new Error(`the liveness session did not answer within ${this.checkTimeoutMs} ms`);
    } catch (err) {
      this.dropped(c, err as Error);
    } finally {
      clearTimeout(timer);
      this.checking = false;
    }
  }

  /** This server holds its liveness lock now (false between a lost session and its retaking). */
  get live(): boolean {
    return this.own !== null;
  }

  private async acquire(): Promise<pg.Client> {
    // TCP keep-alive probes from 10 s (the OS default waits about two hours), beside check().
    const c = new pg.Client({
      connectionString: this.connectionString,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // A database that accepts connections but never answers must not hang start() or a retry.
      connectionTimeoutMillis: this.checkTimeoutMs,
    });
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
      if (!r.rows[0]?.ok) throw new IdInUseError(this.serverId);
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
    this.acquiring = this.acquire();
    try {
      c = await this.acquiring;
    } catch (err) {
      if (!this.running) return;
      this.opts.events?.retryFailed?.(err as Error);
      this.scheduleRetry();
      return;
    } finally {
      this.acquiring = null;
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

  /** A session for one check, bounded by the check timeout (ended by the caller). */
  private async shortSession(applicationName?: string): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: this.connectionString,
      connectionTimeoutMillis: this.checkTimeoutMs,
      query_timeout: this.checkTimeoutMs,
      ...(applicationName ? { application_name: applicationName } : {}),
    });
    c.on("error", () => {});
    await c.connect();
    return c;
  }

  /** Who holds this server's id: another server's check (whileGone), someone else, or no one (now). */
  private async lockHolder(): Promise<"check" | "other" | "none"> {
    const c = await this.shortSession();
    try {
      const r = await c.query<{ app: string }>(
        `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid
            AND l.objid = hashtext($2)::oid AND l.objsubid = 2`,
        [MEMBER_LOCK_CLASS, this.serverId],
      );
      const row = r.rows[0];
      return row === undefined ? "none" : row.app === CHECK_APPLICATION ? "check" : "other";
    } finally {
      await c.end().catch(() => {});
    }
  }

  /** True when no live server holds `serverId`'s lock (it died, or never ran). */
  async isGone(serverId: string): Promise<boolean> {
    return (await this.whileGone(serverId, async () => true)) ?? false;
  }

  /**
   * Runs `fn` while holding `serverId`'s liveness lock if it is free (the server is gone), and returns
   * its result; null when the server is live. Holding the lock, the server cannot come back (take its
   * id again) while `fn` runs: failing its tasks cannot fail those of a new start.
   */
  async whileGone<T>(serverId: string, fn: () => Promise<T>): Promise<T | null> {
    if (serverId === this.serverId) return null;
    const c = await this.shortSession(CHECK_APPLICATION);
    try {
      const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok", [
        MEMBER_LOCK_CLASS,
        serverId,
      ]);
      if (r.rows[0]?.ok !== true) return null;
      return await fn();
    } finally {
      await c.end(); // releases the lock if we took it
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.retryTimer = null;
    this.checkTimer = null;
    const c = this.own;
    this.own = null;
    await c?.end().catch(() => {});
    // A retake under way ends its session itself once it sees the server stopped: wait for that.
    const acquiring = this.acquiring;
    if (acquiring) await acquiring.then((late) => late.end()).catch(() => {});
  }
}

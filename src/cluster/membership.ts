import pg from "pg";

/** Advisory-lock class for server liveness; the second key is hashtext(server id). */
export const MEMBER_LOCK_CLASS = 0x66770020;

/**
 * Server liveness through PostgreSQL: each server holds a session advisory lock keyed by its id for
 * as long as its connection lives. The lock vanishes with the process (the kernel closes the socket),
 * so "can I take X's lock?" answers "is server X gone?" without heartbeat tables or clocks.
 */
export class ClusterMembership {
  private own: pg.Client | null = null;

  constructor(
    private readonly connectionString: string,
    readonly serverId: string,
  ) {}

  async start(): Promise<void> {
    const c = new pg.Client({ connectionString: this.connectionString });
    c.on("error", () => {});
    await c.connect();
    const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok", [
      MEMBER_LOCK_CLASS,
      this.serverId,
    ]);
    if (!r.rows[0]?.ok) {
      await c.end();
      throw new Error(`another live server already uses the server id "${this.serverId}"`);
    }
    this.own = c;
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
    await this.own?.end().catch(() => {});
    this.own = null;
  }
}

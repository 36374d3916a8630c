/**
 * Log lines for requests the token check refused (the metric counts them; these say from where): one
 * line per reason and client address at first, then at most one a minute with how many were refused
 * meanwhile, so that a client retrying a revoked token, or someone guessing, cannot flood the log.
 * Never the token itself: an unknown one may be a real token mistyped.
 */
import type { Logger } from "../log/logger.js";

export interface Denial {
  reason: "missing" | "unknown" | "expired" | "forbidden";
  /** The client's address as the socket sees it (a proxy's, behind one). */
  ip: string;
  method: string;
  /** The path without its query. */
  path: string;
  /** The token's name in the file, when the token was known (expired, forbidden). */
  token?: string;
}

/** Addresses remembered at most; past it, those whose minute is over are forgotten. */
const MAX_KEYS = 10_000;

export class DeniedLog {
  private readonly windows = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  note(d: Denial): void {
    const t = this.now();
    const key = `${d.reason}|${d.ip}`;
    const w = this.windows.get(key);
    if (w && t < w.until) {
      w.suppressed++;
      return;
    }
    const suppressed = w?.suppressed ?? 0;
    if (!w && this.windows.size >= MAX_KEYS) this.forgetPast(t);
    this.windows.set(key, { until: t + this.everyMs, suppressed: 0 });
    this.logger.warn(
      {
        event: "api_denied",
        reason: d.reason,
        ip: d.ip,
        method: d.method,
        path: d.path,
        ...(d.token === undefined ? {} : { token: d.token }),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      `API request refused (${d.reason}) from ${d.ip}${suppressed > 0 ? `; ${suppressed} more refused for this reason from there since the last line` : ""}`,
    );
  }

  private forgetPast(t: number): void {
    for (const [key, w] of this.windows) if (w.until <= t) this.windows.delete(key);
  }
}

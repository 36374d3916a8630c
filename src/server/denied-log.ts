/**
 * Log lines for requests the token check refused (the metric counts them; these say from where): one
 * line per reason, client address and token name at first, then what was refused meanwhile once a
 * minute, so that a client retrying a revoked token, or someone guessing, cannot flood the log. The
 * entries are bounded: past `maxKeys` addresses, new ones are counted together as "other addresses"
 * (an IPv6 /64 holds more addresses than any map). Never the token itself: an unknown one may be a
 * real token mistyped.
 */
import type { Logger } from "../log/logger.js";

export interface Denial {
  reason: "missing" | "unknown" | "expired" | "forbidden";
  /** The client's address: the socket's, or X-Forwarded-For's from a proxy in `trustedProxies`. */
  ip: string;
  method: string;
  /** The path without its query. */
  path: string;
  /** The token's name in the file, when the token was known (expired, forbidden). */
  token?: string;
}

/** Where the addresses past `maxKeys` are counted. */
export const OTHER_ADDRESSES = "(other addresses)";

interface Window {
  until: number;
  /** Refusals since the window's line, not logged yet. */
  suppressed: number;
  last: Denial;
}

export class DeniedLog {
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
    /** Sweep ended windows on a timer (tests call `sweep` themselves). */
    timer = true,
  ) {
    if (timer) {
      this.timer = setInterval(() => this.sweep(), everyMs);
      this.timer.unref();
    }
  }

  note(denial: Denial): void {
    const t = this.now();
    let d = denial;
    let key = `${d.reason}|${d.ip}|${d.token ?? ""}`;
    if (!this.windows.has(key) && this.windows.size >= this.maxKeys) {
      d = { ...d, ip: OTHER_ADDRESSES };
      key = `${d.reason}|${OTHER_ADDRESSES}|`;
    }
    const w = this.windows.get(key);
    if (w && t < w.until) {
      w.suppressed++;
      w.last = d;
      return;
    }
    this.line(d, w?.suppressed ?? 0);
    // Past maxKeys only the shared entries are added: one per reason.
    this.windows.set(key, { until: t + this.everyMs, suppressed: 0, last: d });
  }

  /** Logs what ended windows suppressed, and forgets them (a burst's count is not lost when it stops). */
  sweep(t = this.now()): void {
    for (const [key, w] of this.windows) {
      if (w.until > t) continue;
      if (w.suppressed > 0) this.line(w.last, w.suppressed, true);
      this.windows.delete(key);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.sweep(Number.POSITIVE_INFINITY);
  }

  private line(d: Denial, suppressed: number, summary = false): void {
    this.logger.warn(
      {
        event: "api_denied",
        reason: d.reason,
        ip: d.ip,
        ...(summary ? {} : { method: d.method, path: d.path }),
        ...(d.token === undefined ? {} : { token: d.token }),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      summary
        ? `${suppressed} API requests refused (${d.reason}) from ${d.ip} in the last minute, besides the line before`
        : `API request refused (${d.reason}) from ${d.ip}${suppressed > 0 ? `; ${suppressed} more refused for this reason from there since the last line` : ""}`,
    );
  }
}

/**
 * The server's view of the tokens file: bearer token → who is calling. Tokens added or revoked with
 * `forewarm token` take effect without a restart: the file is looked at again (stat) at most once a
 * second, and re-read when it changed. A file that became unreadable or invalid keeps the last good
 * list in force and is logged — the server neither stops answering nor lets everyone in.
 */
import { fileStamp } from "../core/file-stamp.js";
import { type Role, readTokenFile, TokenFileError, tokenHash } from "./token-file.js";
import { ownUserOrRoot, trustedPath } from "./trusted-path.js";

/** Who a request comes from. */
export interface Principal {
  /** The token's name in the file. */
  name: string;
  role: Role;
  /** The tenant a tenant token acts for. */
  user?: string;
  /** Epoch ms from which the token is refused (none: until revoked). */
  expires?: number;
}

const RECHECK_MS = 1000;

export class ApiTokens {
  private byHash = new Map<string, Principal>();
  private seen = "";
  private real = "";
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** The last reload's error, while the file stays bad (logged once per change). */
  private failing: string | null = null;

  /**
   * Reads the file now; a bad file here is an error (the server does not start on it). `onReload`
   * hears each later change: the number of tokens, or why the file was not taken.
   */
  constructor(
    readonly file: string,
    private readonly onReload: (change: { tokens: number } | { error: string }) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    const at = trustedPath(file, ownUserOrRoot());
    if (at.problem !== undefined) throw new TokenFileError(at.problem);
    this.load(at.real, `${at.real}:${fileStamp(at.real)}`);
  }

  /** Where the tokens last taken were read from (the file's path resolved, symlinks followed). */
  get realPath(): string {
    return this.real;
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Who holds `token`, or undefined (never issued, or revoked). */
  principalOf(token: string): Principal | undefined {
    this.refresh();
    return this.byHash.get(tokenHash(token));
  }

  /**
   * At most once a second: the path checked again (a symlink may have been re-pointed, by whom may)
   * and the file re-read if it is another or has changed.
   */
  private refresh(): void {
    const t = this.now();
    if (t - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = t;
    try {
      const at = trustedPath(this.file, ownUserOrRoot());
      if (at.problem !== undefined) throw new TokenFileError(at.problem);
      const stamp = `${at.real}:${fileStamp(at.real)}`;
      if (stamp === this.seen) {
        // Back as it was taken last (a chmod undone, a file moved back): fine again, and said so.
        if (this.failing !== null) {
          this.failing = null;
          this.onReload({ tokens: this.byHash.size });
        }
        return;
      }
      this.load(at.real, stamp);
      this.failing = null;
      this.onReload({ tokens: this.byHash.size });
    } catch (e) {
      // Whatever went wrong (the file replaced or removed mid-read too): the last good tokens stay.
      // Not marked seen, so the next look tries again.
      this.fail(e instanceof Error ? e.message : String(e));
    }
  }

  private fail(error: string): void {
    if (this.failing === error) return;
    this.failing = error;
    this.onReload({ error });
  }

  /** Reads `real`, the checked path (its every directory trusted: nothing can be swapped under it). */
  private load(real: string, stamp: string): void {
    const content = readTokenFile(real);
    const next = new Map<string, Principal>();
    for (const t of content.tokens)
      next.set(t.sha256, {
        name: t.name,
        role: t.role,
        ...(t.user === undefined ? {} : { user: t.user }),
        ...(t.expires === undefined ? {} : { expires: Date.parse(t.expires) }),
      });
    this.byHash = next;
    this.seen = stamp;
    this.real = real;
  }
}

/**
 * The server's view of the tokens file: bearer token → who is calling. Tokens added or revoked with
 * `forewarm token` take effect without a restart: the file is looked at again (stat) at most once a
 * second, and re-read when it changed. A file that became unreadable or invalid keeps the last good
 * list in force and is logged — the server neither stops answering nor lets everyone in.
 */
import fs from "node:fs";
import { type Role, readTokenFile, TokenFileError, tokenHash } from "./token-file.js";

/** Who a request comes from. */
export interface Principal {
  /** The token's name in the file. */
  name: string;
  role: Role;
  /** The tenant a tenant token acts for. */
  user?: string;
}

const RECHECK_MS = 1000;

export class ApiTokens {
  private byHash = new Map<string, Principal>();
  private seen = "";
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
    const problem = writableByOthers(file);
    if (problem) throw new TokenFileError(problem);
    this.load();
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Who holds `token`, or undefined (never issued, or revoked). */
  principalOf(token: string): Principal | undefined {
    this.refresh();
    return this.byHash.get(tokenHash(token));
  }

  private refresh(): void {
    const t = this.now();
    if (t - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = t;
    let stamp: string;
    try {
      stamp = fileStamp(this.file);
    } catch (e) {
      this.fail(`${this.file}: cannot read it: ${(e as Error).message}`);
      return;
    }
    if (stamp === this.seen) return;
    try {
      const problem = writableByOthers(this.file);
      if (problem) throw new TokenFileError(problem);
      this.load();
      this.failing = null;
      this.onReload({ tokens: this.byHash.size });
    } catch (e) {
      if (!(e instanceof TokenFileError)) throw e;
      // Not marked seen: a fix with the same size and mtime second is still picked up (stat compares ns).
      this.fail(e.message);
    }
  }

  private fail(error: string): void {
    if (this.failing === error) return;
    this.failing = error;
    this.onReload({ error });
  }

  private load(): void {
    const stamp = fileStamp(this.file);
    const content = readTokenFile(this.file);
    const next = new Map<string, Principal>();
    for (const t of content.tokens)
      next.set(
        t.sha256,
        t.user === undefined ? { name: t.name, role: t.role } : { name: t.name, role: t.role, user: t.user },
      );
    this.byHash = next;
    this.seen = stamp;
  }
}

/** Identity of the file's current content as far as stat tells: a rename over it changes the inode. */
function fileStamp(file: string): string {
  const s = fs.statSync(file, { bigint: true });
  return `${s.ino}:${s.size}:${s.mtimeNs}`;
}

/** Anyone but its owner (and root) able to change the file could grant themselves a token. */
function writableByOthers(file: string): string | undefined {
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
  } catch (e) {
    return `${file}: cannot read it: ${(e as Error).message}`;
  }
  return mode & 0o022
    ? `${file}: group or others may write it (mode ${(mode & 0o777).toString(8)}), and so could give themselves a token; chmod go-w it`
    : undefined;
}

/**
 * The server's view of the tokens file: bearer token → who is calling. Tokens added or revoked with
 * `forewarm token` take effect without a restart: the file is looked at again (stat) at most once a
 * second, and re-read when it changed. A file that became unreadable or invalid keeps the last good
 * list in force and is logged — the server neither stops answering nor lets everyone in.
 */
import fs from "node:fs";
import path from "node:path";
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
    const problem = unsafeTokenFile(file);
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
      const problem = unsafeTokenFile(this.file);
      if (problem) throw new TokenFileError(problem);
      this.load();
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

/**
 * Who can change the file can grant themselves a token: it must belong to this process's user or
 * root, be writable by its owner alone, and sit in directories (the whole way up, after symlinks)
 * that only those may change — or sticky ones (/tmp), where others cannot replace what is ours.
 */
export function unsafeTokenFile(file: string): string | undefined {
  const me = process.geteuid?.() ?? 0;
  const trusted = (uid: number) => uid === me || uid === 0;
  let real: string;
  try {
    real = fs.realpathSync(file);
    const s = fs.statSync(real);
    if (!s.isFile()) return `${file}: not a regular file`;
    if (!trusted(s.uid))
      return `${file}: owned by uid ${s.uid}, neither this server's user (${me}) nor root; a token file others own could hold any token`;
    if (s.mode & 0o022)
      return `${file}: group or others may write it (mode ${(s.mode & 0o777).toString(8)}), and so could give themselves a token; chmod go-w it`;
  } catch (e) {
    return `${file}: cannot read it: ${(e as Error).message}`;
  }
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const d = fs.statSync(dir);
    const sticky = (d.mode & 0o1000) !== 0;
    if (!trusted(d.uid) || ((d.mode & 0o022) !== 0 && !sticky))
      return `${file}: its directory ${dir} may be changed by ${trusted(d.uid) ? "group or others" : `uid ${d.uid}`} (mode ${(d.mode & 0o7777).toString(8)}), who could put another tokens file in its place; keep it in a directory only this server's user or root may write`;
    if (dir === path.dirname(dir)) return undefined;
  }
}

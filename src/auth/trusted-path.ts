/**
 * Whether a file only trusted users can change — the tokens file: whoever can change it can give
 * themselves a token. Like ssh's StrictModes, but every directory the path is resolved through
 * counts, those holding its symlinks included (a symlink in a directory others may write could be
 * pointed elsewhere between a check and a read). The path is resolved here, one component at a time;
 * the caller then reads the resolved path, whose every directory is trusted, so nothing can be
 * swapped under it.
 */
import fs from "node:fs";
import path from "node:path";

export type TrustedPath = { real: string; problem?: undefined } | { problem: string; real?: undefined };

/** Symlinks followed at most (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * Resolves `file` checking that each directory it passes through is owned by a `trusted` uid and not
 * writable by group or others unless sticky — and then what it holds on the way is a trusted uid's
 * (others cannot replace that in /tmp, but could create a missing name or own a symlink) — and that
 * the file itself (unless `missingOk` and it does not exist) is a regular file, owned by a
 * trusted uid, writable by its owner alone.
 */
export function trustedPath(file: string, trusted: (uid: number) => boolean, missingOk = false): TrustedPath {
  const fail = (problem: string): TrustedPath => ({ problem: `${file}: ${problem}` });
  try {
    return walk(file, trusted, missingOk, fail);
  } catch (e) {
    return fail(`cannot read it: ${(e as Error).message}`);
  }
}

function walk(
  file: string,
  trusted: (uid: number) => boolean,
  missingOk: boolean,
  fail: (problem: string) => TrustedPath,
): TrustedPath {
  // Not normalised: `link/..` is the parent of the link's target, as the kernel resolves it.
  let rest = components(path.isAbsolute(file) ? file : `${process.cwd()}/${file}`);
  let dir = "/";
  let links = 0;
  for (;;) {
    const d = statOrNull(dir);
    if (!d) return fail(`directory ${dir} does not exist`);
    const sticky = (d.mode & 0o1000) !== 0;
    const shared = (d.mode & 0o022) !== 0;
    if (!trusted(d.uid) || (shared && !sticky))
      return fail(
        `directory ${dir} may be changed by ${trusted(d.uid) ? "group or others" : `uid ${d.uid}`} (mode ${(d.mode & 0o7777).toString(8)}), who could put another tokens file in its place; keep it where only this server's user or root may write`,
      );
    const name = rest.shift();
    if (name === undefined) return fail("is a directory");
    if (name === "..") {
      dir = path.dirname(dir);
      continue;
    }
    if (name === ".") continue;
    const at = path.join(dir, name);
    const s = statOrNull(at);
    // In a sticky directory others may write (/tmp) only what a trusted user owns stays put: others
    // cannot remove or rename it, but they can create any name that is missing.
    if (shared && !(s && trusted(s.uid)))
      return fail(
        `${at} ${s ? `is owned by uid ${s.uid}` : "does not exist"} in ${dir}, where others may create entries; keep the tokens file where only this server's user or root may write`,
      );
    if (s?.isSymbolicLink()) {
      if (++links > MAX_LINKS) return fail("too many symbolic links");
      const target = fs.readlinkSync(at);
      if (target.startsWith("/")) dir = "/";
      rest = [...components(target), ...rest];
      continue;
    }
    if (rest.length > 0) {
      if (!s) return fail(`directory ${at} does not exist`);
      if (!s.isDirectory()) return fail(`${at} is not a directory`);
      dir = at;
      continue;
    }
    if (!s) return missingOk ? { real: at } : fail("does not exist");
    if (!s.isFile()) return fail("is not a regular file");
    if (!trusted(s.uid))
      return fail(
        `owned by uid ${s.uid}, neither this server's user nor root; a file others own could hold any token`,
      );
    if (s.mode & 0o022)
      return fail(
        `group or others may write it (mode ${(s.mode & 0o777).toString(8)}), and so could give themselves a token; chmod go-w it`,
      );
    return { real: at };
  }
}

/** A path's names; a trailing slash is a "." (what it names must be a directory). */
function components(p: string): string[] {
  const names = p.split("/").filter(Boolean);
  if (p.endsWith("/")) names.push(".");
  return names;
}

/** lstat, or null where nothing is. */
function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** This process's user and root: whom a server trusts with its tokens file. */
export function ownUserOrRoot(): (uid: number) => boolean {
  const me = process.geteuid?.() ?? 0;
  return (uid) => uid === me || uid === 0;
}

/**
 * The API tokens file (`auth.tokensFile`): who may call the API, as SHA-256 hashes of bearer tokens,
 * never the tokens themselves — a copy of the file lets nobody in. Read and written here; the server
 * checks requests against it (api-tokens.ts) and `forewarm token` edits it.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { replaceFile } from "../core/replace-file.js";
import { Name } from "../core/submission.js";

/** What a token lets its holder do (src/server/access.ts has the routes of each). */
export const ROLES = ["tenant", "operator", "metrics"] as const;
export type Role = (typeof ROLES)[number];

const TokenEntry = Type.Object(
  {
    /** How the operator refers to the token (list, revoke, logs); unique in the file. */
    name: Name(128, "token name"),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
    /** The tenant a `tenant` token acts for (only that role has one). */
    user: Type.Optional(Name(128, "tenant id")),
    sha256: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    created: Type.Optional(Type.String()),
    /** ISO 8601 date-time from which the server refuses the token (none: until revoked). */
    expires: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const TokenFileSchema = Type.Object({ tokens: Type.Array(TokenEntry) }, { additionalProperties: false });
export type TokenEntry = Static<typeof TokenEntry>;
export type TokenFile = Static<typeof TokenFileSchema>;

/** A tokens file that cannot be used, naming the file and the field. */
export class TokenFileError extends Error {}

/** "/tokens/2/user" → "tokens[2].user" */
const fieldName = (pointer: string): string =>
  pointer
    .split("/")
    .filter(Boolean)
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), "");

/** Checks a parsed tokens file: the schema, then what it cannot say (a user exactly on tenant tokens, unique names and hashes). */
export function checkTokenFile(value: unknown, file: string): TokenFile {
  if (!Value.Check(TokenFileSchema, value)) {
    const first = [...Value.Errors(TokenFileSchema, value)][0]!;
    throw new TokenFileError(`${file}: ${fieldName(first.path) || "(top level)"}: ${first.message}`);
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  value.tokens.forEach((t, i) => {
    const at = `${file}: tokens[${i}]`;
    if (t.role === "tenant" && t.user === undefined)
      throw new TokenFileError(`${at}.user: a tenant token names the user it acts for`);
    if (t.role !== "tenant" && t.user !== undefined)
      throw new TokenFileError(`${at}.user: only a tenant token has a user (this one is ${t.role})`);
    // Date.parse would take "2027" or "Jan 1": only a full ISO date-time says one instant everywhere.
    if (t.expires !== undefined && !isIsoInstant(t.expires))
      throw new TokenFileError(
        `${at}.expires: '${t.expires}' is not an ISO 8601 date-time with a time zone (2027-01-31T00:00:00Z)`,
      );
    if (names.has(t.name)) throw new TokenFileError(`${at}.name: '${t.name}' is used by an earlier token`);
    if (hashes.has(t.sha256)) throw new TokenFileError(`${at}.sha256: the same token is listed twice`);
    names.add(t.name);
    hashes.add(t.sha256);
  });
  return value;
}

/** YYYY-MM-DD naming a day that exists (Date.parse takes 2027-02-30 as March 2). */
export function isCalendarDate(v: string): boolean {
  const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
}

/** A date-time with seconds and a zone (Z or ±hh:mm), as toISOString writes and Date.parse reads exactly. */
export const isIsoInstant = (v: string): boolean =>
  /^\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) &&
  isCalendarDate(v.slice(0, 10)) &&
  !Number.isNaN(Date.parse(v));

/** Reads and checks the tokens file; errors name the file and the field or the JSON position. */
export function readTokenFile(file: string): TokenFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new TokenFileError(`${file}: cannot read it: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (e) {
    throw new TokenFileError(`${file}: not JSON: ${(e as Error).message}`);
  }
  return checkTokenFile(parsed, file);
}

/**
 * Writes the file whole (core/replace-file.ts): a server reading it meanwhile sees the old or the new
 * list, and an existing file keeps its owner, group and read bits — root revoking a token in a service
 * user's file must not leave one that service can no longer read (the revoked token would stay).
 */
export function writeTokenFile(file: string, content: TokenFile): void {
  replaceFile(file, `${JSON.stringify(content, null, 2)}\n`, { keepOwnership: true });
}

/** The hash a token is kept as. */
export const tokenHash = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex");

/** A new bearer token: 256 random bits, prefixed so that it is recognisable in a leaked log or config. */
export const newToken = (): string => `fw_${randomBytes(32).toString("base64url")}`;

const LOCK_WAIT_MS = 5000;
const LOCK_POLL_MS = 50;

/**
 * Runs `change` (read, modify, write the file) holding `<file>.lock`, so that two `forewarm token`
 * commands at once cannot undo each other (a revoke lost to a concurrent add would leave the token
 * valid). A lock still there after 5 s is an error naming it and its holder: taking over a stale lock
 * automatically would let two commands that both found it stale in together.
 */
export function withTokenFileLock<T>(file: string, change: () => T): T {
  const lock = `${file}.lock`;
  const giveUp = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = fs.openSync(lock, "wx", 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (Date.now() > giveUp) throw new TokenFileError(`${lock} is held ${lockHolder(lock)}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, LOCK_POLL_MS);
    }
  }
  try {
    return change();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Who holds the lock, for the error: remove it by hand only when its holder is gone. */
function lockHolder(lock: string): string {
  let pid = Number.NaN;
  try {
    pid = Number(fs.readFileSync(lock, "utf8"));
  } catch {
    // gone meanwhile, or unreadable: said as unknown
  }
  if (!Number.isInteger(pid) || pid <= 0)
    return "by an unknown process; remove it if no forewarm token command runs";
  try {
    process.kill(pid, 0);
    return `by process ${pid}, still running`;
  } catch {
    return `by process ${pid}, which is no longer running (a command that was killed): remove the lock`;
  }
}

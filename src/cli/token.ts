import fs from "node:fs";
import { Value } from "@sinclair/typebox/value";
import type { Command } from "commander";
import {
  checkTokenFile,
  isCalendarDate,
  isIsoInstant,
  newToken,
  ROLES,
  type Role,
  readTokenFile,
  type TokenEntry,
  type TokenFile,
  tokenHash,
  withTokenFileLock,
  writeTokenFile,
} from "../auth/token-file.js";
import { ownUserOrRoot, trustedPath } from "../auth/trusted-path.js";
import { Name } from "../core/submission.js";

const NAME = Name(128, "tenant id or token name");
const FILE_HELP = "tokens file (the server's auth.tokensFile; env: FOREWARM_AUTH__TOKENS_FILE)";

/** `--file`, else the variable the server reads its auth.tokensFile from. */
function tokensFile(given: string | undefined): string {
  const file = given ?? process.env.FOREWARM_AUTH__TOKENS_FILE;
  if (!file) throw new Error("give the tokens file: --file <file> or FOREWARM_AUTH__TOKENS_FILE");
  return file;
}

/**
 * The file to change, resolved, if a server would take it afterwards: refused before anything is
 * written otherwise (a revoke written where the server no longer reads would leave the token in
 * force). Trusted: this user, root, and the file's owner, whose ownership the write keeps.
 */
function changeableFile(file: string): string {
  const owner = fs.existsSync(file) ? fs.statSync(file).uid : undefined;
  const mine = ownUserOrRoot();
  const at = trustedPath(file, (uid) => mine(uid) || uid === owner, true);
  if (at.problem !== undefined) throw new Error(`a server would refuse this tokens file: ${at.problem}`);
  return at.real;
}

/** The file's tokens; a file that does not exist yet has none (`token new` creates it). */
function existing(file: string): TokenFile {
  return fs.existsSync(file) ? readTokenFile(file) : { tokens: [] };
}

/** `base`, or base-2, base-3, … : the first name no token has. */
function freeName(tokens: readonly TokenEntry[], base: string): string {
  const taken = new Set(tokens.map((t) => t.name));
  if (!taken.has(base)) return base;
  let k = 2;
  while (taken.has(`${base}-${k}`)) k++;
  return `${base}-${k}`;
}

interface NewOptions {
  file?: string;
  user?: string;
  role?: string;
  name?: string;
  expires?: string;
}

const LAST_INSTANT = Date.parse("9999-12-31T23:59:59.999Z");
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * `--expires`: a lifetime (90m, 12h, 30d, 8w) from `now`, or an instant (2027-01-31 = its 00:00 UTC,
 * or a date-time with seconds and a zone); in the future, as the ISO string the file keeps.
 */
export function expiryOption(v: string, now = Date.now()): string {
  const life = /^(\d+)([mhdw])$/.exec(v);
  let at: number;
  if (life) at = now + Number(life[1]) * UNIT_MS[life[2] as keyof typeof UNIT_MS];
  else if (isCalendarDate(v)) at = Date.parse(`${v}T00:00:00Z`);
  else if (isIsoInstant(v)) at = Date.parse(v);
  else
    throw new Error(
      `--expires '${v}': a lifetime (90m, 12h, 30d, 8w) or a date (2027-01-31, 2027-01-31T12:00:00Z)`,
    );
  // Past year 9999 an ISO string needs a sign and six digits, which the tokens file does not take.
  if (!Number.isFinite(at) || at > LAST_INSTANT)
    throw new Error(`--expires '${v}': too far ahead (after 9999)`);
  if (at <= now) throw new Error(`--expires '${v}': ${new Date(at).toISOString()} has passed`);
  return new Date(at).toISOString();
}

export function registerToken(program: Command): void {
  const token = program
    .command("token")
    .description("Issue, list and revoke API tokens (kept as hashes in the server's auth.tokensFile).");
  token
    .command("new")
    .description(
      "Issue a token and print it (only its hash is kept: it cannot be shown again). The server takes it within a second.",
    )
    .option("--file <file>", FILE_HELP)
    .option("-u, --user <user>", "the tenant the token acts for (role tenant)")
    .option("--role <role>", `${ROLES.join(", ")} (default: tenant with --user)`)
    .option("--name <name>", "name to list and revoke it by (default: the user or the role)")
    .option(
      "--expires <when>",
      "refuse the token from the end of a lifetime (90m, 12h, 30d, 8w), or from a date's 00:00 UTC (2027-01-31) or a date-time with a zone (2027-01-31T17:00:00+01:00); default: never",
    )
    .action((o: NewOptions) => {
      const file = tokensFile(o.file);
      const role = (o.role ?? (o.user !== undefined ? "tenant" : undefined)) as Role | undefined;
      if (role === undefined)
        throw new Error("give --user <tenant> for a tenant's token, or --role operator|metrics");
      if (!ROLES.includes(role)) throw new Error(`--role must be one of ${ROLES.join(", ")}, got '${role}'`);
      if (role === "tenant" && o.user === undefined) throw new Error("a tenant token needs --user <tenant>");
      if (role !== "tenant" && o.user !== undefined)
        throw new Error(`--user is for tenant tokens; an ${role} token acts for no tenant`);
      for (const [flag, v] of [
        ["--user", o.user],
        ["--name", o.name],
      ] as const)
        if (v !== undefined && !Value.Check(NAME, v))
          throw new Error(`${flag} '${v}': 1–128 letters, digits and . _ @ : / + - (not first)`);
      const expires = o.expires === undefined ? undefined : expiryOption(o.expires);
      const real = changeableFile(file);
      const entry = withTokenFileLock(real, () => add(real, role, o, expires));
      process.stderr.write(
        `token '${entry.name}' (${role}${o.user !== undefined ? ` for ${o.user}` : ""}${expires ? `, expires ${expires}` : ""}) added to ${file}\n`,
      );
      process.stdout.write(`${entry.secret}\n`);
    });
  token
    .command("list")
    .description(
      "List the tokens of the file, one per line: name, role, user, created, expires (EXPIRED once past); never the tokens.",
    )
    .option("--file <file>", FILE_HELP)
    .action((o: { file?: string }) => {
      const content = readTokenFile(tokensFile(o.file));
      const now = Date.now();
      for (const t of content.tokens) {
        const expires =
          t.expires === undefined ? "-" : `${t.expires}${Date.parse(t.expires) <= now ? " EXPIRED" : ""}`;
        process.stdout.write(`${t.name}\t${t.role}\t${t.user ?? "-"}\t${t.created ?? "-"}\t${expires}\n`);
      }
    });
  token
    .command("revoke")
    .description("Revoke a token by name. The server refuses it within a second.")
    .argument("<name>", "the token's name (forewarm token list)")
    .option("--file <file>", FILE_HELP)
    .action((name: string, o: { file?: string }) => {
      const file = tokensFile(o.file);
      const real = changeableFile(file);
      withTokenFileLock(real, () => {
        const content = readTokenFile(real);
        const kept = content.tokens.filter((t) => t.name !== name);
        if (kept.length === content.tokens.length) throw new Error(`no token named '${name}' in ${file}`);
        writeTokenFile(real, { tokens: kept });
      });
      process.stderr.write(`token '${name}' revoked in ${file}\n`);
    });
}

/** Adds a new token of `role` to the file (under its lock): the entry written, and the token itself. */
function add(
  file: string,
  role: Role,
  o: NewOptions,
  expires: string | undefined,
): TokenEntry & { secret: string } {
  const content = existing(file);
  if (o.name !== undefined && content.tokens.some((t) => t.name === o.name))
    throw new Error(`--name: a token named '${o.name}' exists in ${file}; revoke it first or choose another`);
  const secret = newToken();
  const entry: TokenEntry = {
    name: o.name ?? freeName(content.tokens, o.user ?? role),
    role,
    ...(o.user !== undefined ? { user: o.user } : {}),
    sha256: tokenHash(secret),
    created: new Date().toISOString(),
    ...(expires === undefined ? {} : { expires }),
  };
  // Checked as the server will read it, before writing: a bad entry fails here, not there.
  writeTokenFile(file, checkTokenFile({ tokens: [...content.tokens, entry] }, file));
  return { ...entry, secret };
}

/**
 * Why a server could not use the PostgreSQL of `history.url`, said so that an operator can act on it:
 * the address without its password, the driver's reason, and for TLS what to put in the URL
 * (node-postgres reads libpq's `sslmode` and `sslrootcert` from it). Only failures to connect are
 * about the URL; anything else keeps its own error.
 */
import { isUntrustedSigner } from "../core/certificate-errors.js";

/** URL parameters that carry secrets (node-postgres takes the password as `?password=` too). */
const SECRET_PARAMS = ["password", "sslpassword"];

/** The URL with any password replaced (it lands in logs and terminals). */
export function redactedUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "(history.url, not a URL)";
  }
  if (u.password) u.password = "***";
  for (const p of SECRET_PARAMS) if (u.searchParams.has(p)) u.searchParams.set(p, "***");
  // URLSearchParams encodes the mask; put it back as written.
  return u.toString().replaceAll("%2A%2A%2A", "***");
}

/** Certificate checks that fail because the database's CA is not the one trusted, or its name differs. */
const untrusted = (code: string | undefined): boolean =>
  isUntrustedSigner(code) || code === "CERT_HAS_EXPIRED" || code === "ERR_TLS_CERT_ALTNAME_INVALID";
/** Socket errors of reaching the address. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ECONNRESET",
]);

/**
 * Whether `err` says the database could not be reached or would not let this URL in: the address, TLS,
 * pg_hba, authentication, a database that does not exist (SQLSTATE classes 08 and 28, 3D000).
 */
export function isConnectFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : "";
  return (
    untrusted(code) ||
    UNREACHABLE.has(code) ||
    code.startsWith("ERR_TLS") ||
    code.startsWith("CERT_") ||
    /^(08|28)/.test(code) ||
    code === "3D000" ||
    /does not support SSL|Connection terminated|timeout/i.test(message)
  );
}

/** The reason and a hint for a failure to connect to `url`. */
export function postgresConnectProblem(url: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message : String(err);
  let hint = "";
  if (untrusted(e?.code))
    hint =
      " (the database's TLS certificate is not trusted: name the CA that signed it with sslrootcert=<file> in history.url, and the host as the certificate names it)";
  else if (/does not support SSL/i.test(message))
    hint = " (the database serves no TLS: enable ssl on it, or drop sslmode from history.url)";
  else if (/pg_hba\.conf rejects connection.*no encryption/i.test(message))
    hint =
      " (the database accepts TLS connections only: add sslmode=verify-full&sslrootcert=<its CA file> to history.url)";
  else if (/no pg_hba\.conf entry.*no encryption/i.test(message))
    hint =
      " (no pg_hba.conf line admits this host, user and database without TLS: add one on the database, or connect with sslmode=verify-full&sslrootcert=<its CA file> if a hostssl line admits it)";
  return `cannot use PostgreSQL at ${redactedUrl(url)}: ${message}${hint}`;
}

/**
 * Why a server could not use the PostgreSQL of `history.url`, said so that an operator can act on it:
 * the address without its password, the driver's reason, and for TLS what to put in the URL
 * (node-postgres reads libpq's `sslmode` and `sslrootcert` from it).
 */

/** The URL with any password replaced (it lands in logs and terminals). */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(history.url, not a URL)";
  }
}

/** Certificate checks that fail because the database's CA is not the one trusted. */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The reason and a hint for a failure to connect to `url`. */
export function postgresConnectProblem(url: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message : String(err);
  let hint = "";
  if (e?.code && UNTRUSTED.has(e.code))
    hint =
      " (the database's TLS certificate is not trusted: name the CA that signed it with sslrootcert=<file> in history.url, and the host as the certificate names it)";
  else if (/does not support SSL/i.test(message))
    hint = " (the database serves no TLS: enable ssl on it, or drop sslmode from history.url)";
  else if (/no encryption/i.test(message))
    hint =
      " (the database accepts TLS connections only: add sslmode=verify-full&sslrootcert=<its CA file> to history.url)";
  return `cannot use PostgreSQL at ${redactedUrl(url)}: ${message}${hint}`;
}

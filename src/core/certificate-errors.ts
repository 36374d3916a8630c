/**
 * Node's codes for a TLS peer certificate nobody trusted signed, shared by the messages that say what
 * to do about it (the CLI's --ca, the history's sslrootcert).
 */

/** The chain ends in a self-signed certificate that is not trusted. */
export const SELF_SIGNED = new Set(["SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT"]);

/** The issuer of a certificate in the chain is unknown: an untrusted CA, or a chain sent incomplete. */
export const ISSUER_UNKNOWN = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
]);

/** Either: what trusting the right CA would cure. */
export const isUntrustedSigner = (code: string | undefined): boolean =>
  code !== undefined && (SELF_SIGNED.has(code) || ISSUER_UNKNOWN.has(code));

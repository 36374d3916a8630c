/**
 * The server's TLS certificate and key (config `tls`): read and checked at start, where a bad pair
 * stops the start naming the field, then re-checked every `tls.recheckMs`, so that a renewed
 * certificate (certbot, cert-manager, a hand copy) is served without a restart. A renewal that does
 * not check out — a key that does not match, a half-written file, a certificate already expired — is
 * logged and the pair in force stays: the server never ends up serving nothing.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import tls from "node:tls";
import { fileStamp } from "../core/file-stamp.js";

/** The certificate's file or the key's, as the configuration names them. */
export type TlsField = "tls.certFile" | "tls.keyFile";

export class CertificateError extends Error {
  constructor(
    readonly field: TlsField,
    message: string,
    /** Refused only for now: the certificate is not valid yet (issued ahead, or clocks apart). */
    readonly notYetValid = false,
  ) {
    super(message);
  }
}

/** A key and certificate that belong together, as served. */
export interface CertificatePair {
  key: Buffer;
  /** The PEM as read: the server's certificate, then any chain. */
  cert: Buffer;
  subject: string;
  /** SHA-256 fingerprint of the server's certificate (colon-separated hex, as openssl prints it). */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** The key file can be read or written by group or others (worth a warning, not a refusal). */
  keyExposed: boolean;
}

function readPem(file: string, field: TlsField): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new CertificateError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * Reads and checks the pair: a PEM certificate, a PEM private key (not encrypted: the server starts
 * unattended), the key the certificate's, and the certificate valid at `now`. Throws CertificateError
 * naming the file at fault.
 */
export function readCertificatePair(certFile: string, keyFile: string, now = new Date()): CertificatePair {
  const cert = readPem(certFile, "tls.certFile");
  const key = readPem(keyFile, "tls.keyFile");
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (e) {
    throw new CertificateError(
      "tls.certFile",
      `${certFile} holds no PEM certificate (${(e as Error).message})`,
    );
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (e) {
    throw new CertificateError(
      "tls.keyFile",
      `${keyFile} holds no unencrypted PEM private key (${(e as Error).message})`,
    );
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new CertificateError("tls.keyFile", `${keyFile} is not the key of the certificate in ${certFile}`);
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (now.getTime() > notAfter.getTime())
    throw new CertificateError(
      "tls.certFile",
      `the certificate in ${certFile} expired on ${notAfter.toISOString()}`,
    );
  if (now.getTime() < notBefore.getTime())
    throw new CertificateError(
      "tls.certFile",
      `the certificate in ${certFile} is not valid before ${notBefore.toISOString()}`,
      true,
    );
  try {
    // What the server will do with them: anything OpenSSL still refuses is refused here, by name.
    tls.createSecureContext({ key, cert });
  } catch (e) {
    throw new CertificateError("tls.certFile", `${certFile} and ${keyFile}: ${(e as Error).message}`);
  }
  let keyMode: number;
  try {
    keyMode = fs.statSync(keyFile).mode;
  } catch (e) {
    throw new CertificateError("tls.keyFile", `cannot read ${keyFile}: ${(e as Error).message}`);
  }
  return {
    key,
    cert,
    // A certificate may name its server in subjectAltName alone (its subject empty: undefined here).
    subject: (x509.subject ?? "").replaceAll("\n", ", ") || (x509.subjectAltName ?? "(no subject)"),
    fingerprint: x509.fingerprint256,
    notBefore,
    notAfter,
    keyExposed: (keyMode & 0o077) !== 0,
  };
}

/** What `recheck` found. */
export type CertificateChange = { pair: CertificatePair } | { error: CertificateError };

/** A file's stamp, or why there is none (a file missing mid-renewal is a change too). */
function stamp(file: string): string {
  try {
    return fileStamp(file);
  } catch (e) {
    return `missing:${(e as NodeJS.ErrnoException).code ?? ""}`;
  }
}

/** The pair in force and its files, re-read when either file changes. */
export class ServerCertificate {
  private pairInForce: CertificatePair;
  private stamps: string;
  /** The files last read did not check out (the pair in force is an earlier one). */
  private rejected: CertificateError | null = null;

  constructor(
    readonly certFile: string,
    readonly keyFile: string,
  ) {
    // Stamped before reading: a change while reading is seen at the next recheck.
    this.stamps = this.currentStamps();
    this.pairInForce = readCertificatePair(certFile, keyFile);
  }

  get current(): CertificatePair {
    return this.pairInForce;
  }

  private currentStamps(): string {
    return `${stamp(this.certFile)}|${stamp(this.keyFile)}`;
  }

  /** Whether the files on disk hold the pair in force (false: they hold one that was refused). */
  get filesValid(): boolean {
    return this.rejected === null;
  }

  /**
   * Undefined when nothing new: neither file changed since the last look (or they were rewritten
   * with the pair in force). Otherwise the new pair (now in force) or why it was not taken (the pair
   * in force stays). A refused pair is reported once and read again only when a file changes —
   * except one not valid yet, which time alone will make good: it is read at every look.
   */
  recheck(now = new Date()): CertificateChange | undefined {
    const stamps = this.currentStamps();
    if (stamps === this.stamps && !this.rejected?.notYetValid) return undefined;
    const changed = stamps !== this.stamps;
    this.stamps = stamps;
    try {
      const pair = readCertificatePair(this.certFile, this.keyFile, now);
      this.rejected = null;
      // The same files again (a renewal hook that copies unconditionally): nothing new. The whole
      // certificate file is compared: a chain completed behind the same leaf is news.
      if (pair.cert.equals(this.pairInForce.cert) && pair.key.equals(this.pairInForce.key)) return undefined;
      this.pairInForce = pair;
      return { pair };
    } catch (e) {
      const error =
        e instanceof CertificateError
          ? e
          : new CertificateError("tls.certFile", `reading the pair failed: ${(e as Error)?.message ?? e}`);
      const again = !changed && this.rejected?.message === error.message;
      this.rejected = error;
      return again ? undefined : { error };
    }
  }
}

/**
 * Rechecks the files every `intervalMs`: a new pair is handed to `apply` (the server's
 * setSecureContext) and reported; a rejected one only reported. Returns the stop function.
 */
export function watchCertificate(
  certificate: ServerCertificate,
  intervalMs: number,
  apply: (pair: CertificatePair) => void,
  report: (change: CertificateChange) => void,
): () => void {
  const timer = setInterval(() => {
    // Nothing a renewal does may end the process: whatever fails is a rejected renewal.
    try {
      const change = certificate.recheck();
      if (!change) return;
      if ("pair" in change) apply(change.pair);
      report(change);
    } catch (e) {
      report({
        error: new CertificateError("tls.certFile", `renewal failed: ${(e as Error)?.message ?? e}`),
      });
    }
  }, intervalMs);
  // A renewal check must not keep a stopping process alive.
  timer.unref();
  return () => clearInterval(timer);
}

/** Certificates for the TLS tests, made with the openssl command (Debian's; no network). */
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Pem {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** Directories of the CAs made so far (with their keys): removed by `removeMadeCerts`. */
const made: string[] = [];

/** Removes every CA directory made in this process (call it from the file's `after`). */
export function removeMadeCerts(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A test CA: a self-signed certificate and its key, in a fresh directory. */
export function makeCa(): Pem & { dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-tls-"));
  made.push(dir);
  openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
      .concat(["-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=forewarm test CA"])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]),
    dir,
  );
  return { dir, cert: path.join(dir, "ca.pem"), key: path.join(dir, "ca.key") };
}

/**
 * A certificate for 127.0.0.1 signed by `ca`, named `name` (its own files in the CA's directory);
 * `subject` "/" leaves the subject empty (the name in subjectAltName alone), `intermediate` makes a CA.
 */
export function makeServerCert(
  ca: Pem & { dir: string },
  name: string,
  days = 30,
  options: { subject?: string; intermediate?: boolean } = {},
): Pem {
  const dir = ca.dir;
  const key = `${name}.key`;
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], dir);
  openssl(
    ["req", "-new", "-key", key, "-out", `${name}.csr`, "-subj", options.subject ?? `/CN=${name}`],
    dir,
  );
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    options.intermediate
      ? "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
      : "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial"].concat([
      "-out",
      `${name}.pem`,
      "-days",
      String(days),
      "-extfile",
      `${name}.ext`,
    ]),
    dir,
  );
  fs.chmodSync(path.join(dir, key), 0o600);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, key) };
}

/** SHA-256 fingerprint of a PEM certificate file, as the server reports it. */
export const fingerprintOf = (certFile: string): string =>
  new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;

/** Puts `from`'s content at `to` the way renewal tools do: written beside it, then renamed over it. */
export function replaceWith(from: string, to: string, mode = 0o600): void {
  const tmp = `${to}.new`;
  fs.copyFileSync(from, tmp);
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, to);
}

/** The files a server is configured with, in a directory of their own, holding `pair` to begin with. */
export function liveFiles(dir: string, pair: Pem): Pem {
  const own = fs.mkdtempSync(path.join(dir, "live-"));
  const live = { cert: path.join(own, "server.pem"), key: path.join(own, "server.key") };
  replaceWith(pair.cert, live.cert, 0o644);
  replaceWith(pair.key, live.key);
  return live;
}

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import tls from "node:tls";
import { request } from "../../src/cli/http-answers.js";
import { CertificateError, readCertificatePair } from "../../src/server/server-certificate.js";
import { forewarm, submitArgs } from "../cli/cli-process.js";
import { eventually, type Harness, startHarness } from "./harness.js";
import { fingerprintOf, makeCa, makeServerCert, type Pem, replaceWith } from "./tls-certs.js";

/** GET over HTTPS trusting `caFile` (the CLI's own request path): status and text. */
async function get(h: Harness, route: string, caFile: string): Promise<{ status: number; text: string }> {
  const res = await request(`${h.server.url}${route}`, h.server.url, {}, { ca: fs.readFileSync(caFile) });
  return { status: res.status, text: await res.text() };
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to the server is shown. */
function servedFingerprint(h: Harness, caFile: string): Promise<string> {
  const { hostname, port } = new URL(h.server.url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca: fs.readFileSync(caFile) }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on("error", reject);
  });
}

const metric = async (h: Harness, line: RegExp): Promise<number | undefined> => {
  const m = line.exec(await h.server.metrics.render());
  return m ? Number(m[1]) : undefined;
};
const reloads = (h: Harness, result: "taken" | "rejected") =>
  metric(h, new RegExp(`^forewarm_tls_certificate_reloads_total\\{result="${result}"\\} (\\d+)$`, "m")).then(
    (v) => v ?? 0,
  );
const expirySeconds = (certFile: string): number =>
  Math.floor(new Date(new crypto.X509Certificate(fs.readFileSync(certFile)).validTo).getTime() / 1000);

/** A start that should be refused: its ConfigError, or a failure if the server started. */
async function refused(config: Record<string, unknown>): Promise<{ field: string; message: string }> {
  let h: Harness;
  try {
    h = await startHarness(config);
  } catch (e) {
    return { field: (e as { field: string }).field, message: (e as Error).message };
  }
  await h.server.close();
  throw new assert.AssertionError({ message: `the server started with ${JSON.stringify(config)}` });
}

test("an HTTPS server answers clients that trust its CA, not plain HTTP; the CLI takes the CA with --ca or FOREWARM_CA", async () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a");
  const h = await startHarness({ tls: { certFile: a.cert, keyFile: a.key } });
  try {
    assert.match(h.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await get(h, "/healthz", ca.cert);
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.text) as { ok: boolean }).ok, true);
    assert.equal(await servedFingerprint(h, ca.cert), fingerprintOf(a.cert));
    // A client that does not trust the CA, and one speaking plain HTTP to the port, get nothing.
    await assert.rejects(fetch(`${h.server.url}/healthz`));
    await assert.rejects(fetch(`${h.server.url.replace("https:", "http:")}/healthz`));
    // The expiry of the certificate in force, for the alert that warns before it lapses.
    const exported = await metric(h, /^forewarm_tls_certificate_expiry_timestamp_seconds (\d+)$/m);
    assert.equal(exported, expirySeconds(a.cert));

    const status = await forewarm(["status", "--url", h.server.url, "--ca", ca.cert]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^server /);
    const untrusted = await forewarm(["status", "--url", h.server.url]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /cannot reach https:.*--ca or FOREWARM_CA/);
    const plain = await forewarm(["status", "--url", h.server.url.replace("https:", "http:")]);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /use an https:\/\/ --url/);
    const submitted = await forewarm([...submitArgs(h.server.url), "-i", '{"name":"tls"}'], {
      FOREWARM_CA: ca.cert,
    });
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.equal((JSON.parse(submitted.stdout) as { status: string }).status, "succeeded");
    const wrongCa = makeCa();
    const other = await forewarm(["status", "--url", h.server.url, "--ca", wrongCa.cert]);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /not signed by the CA of --ca/);
    const notPem = await forewarm(["status", "--url", h.server.url, "--ca", a.key]);
    assert.match(notPem.stderr, /--ca: .* holds no PEM certificate/);
  } finally {
    await h.server.close();
  }
});

test("a renewed certificate is served to new connections without a restart; a pair that does not check out leaves the previous one in force", async () => {
  const ca = makeCa();
  const [a, b, c] = ["a", "b", "c"].map((n) => makeServerCert(ca, n)) as [Pem, Pem, Pem];
  const dir = fs.mkdtempSync(path.join(ca.dir, "live-"));
  const live = { cert: path.join(dir, "server.pem"), key: path.join(dir, "server.key") };
  replaceWith(a.cert, live.cert, 0o644);
  replaceWith(a.key, live.key);
  const h = await startHarness({ tls: { certFile: live.cert, keyFile: live.key, recheckMs: 100 } });
  const served = () => servedFingerprint(h, ca.cert);
  try {
    assert.equal(await served(), fingerprintOf(a.cert));
    // Renewal: the key, then the certificate (a check between the two sees a mismatch and waits).
    replaceWith(b.key, live.key);
    replaceWith(b.cert, live.cert, 0o644);
    await eventually(async () => ((await served()) === fingerprintOf(b.cert) ? true : undefined), 200, 50);
    assert.ok((await reloads(h, "taken")) >= 1);
    assert.equal(
      await metric(h, /^forewarm_tls_certificate_expiry_timestamp_seconds (\d+)$/m),
      expirySeconds(b.cert),
    );

    // A certificate whose key is not there: rejected, b stays; once the key comes, c is served.
    const rejectedBefore = await reloads(h, "rejected");
    replaceWith(c.cert, live.cert, 0o644);
    await eventually(
      async () => ((await reloads(h, "rejected")) > rejectedBefore ? true : undefined),
      200,
      50,
    );
    assert.equal(await served(), fingerprintOf(b.cert));
    assert.equal((await get(h, "/healthz", ca.cert)).status, 200);
    replaceWith(c.key, live.key);
    await eventually(async () => ((await served()) === fingerprintOf(c.cert) ? true : undefined), 200, 50);

    // A half-written certificate file: rejected, c stays.
    const rejectedThen = await reloads(h, "rejected");
    fs.writeFileSync(live.cert, fs.readFileSync(c.cert, "utf8").slice(0, 200));
    await eventually(async () => ((await reloads(h, "rejected")) > rejectedThen ? true : undefined), 200, 50);
    assert.equal(await served(), fingerprintOf(c.cert));
  } finally {
    await h.server.close();
  }
});

test("a TLS pair that does not check out stops the start, naming the field", async () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a");
  const b = makeServerCert(ca, "b");
  const only = await refused({ tls: { certFile: a.cert } });
  assert.equal(only.field, "tls.keyFile");
  assert.match(only.message, /together/);
  const mismatched = await refused({ tls: { certFile: a.cert, keyFile: b.key } });
  assert.equal(mismatched.field, "tls.keyFile");
  assert.match(mismatched.message, /is not the key of the certificate/);
  const missing = await refused({ tls: { certFile: path.join(ca.dir, "none.pem"), keyFile: a.key } });
  assert.equal(missing.field, "tls.certFile");
  assert.match(missing.message, /cannot read/);
  const notCert = await refused({ tls: { certFile: a.key, keyFile: a.key } });
  assert.equal(notCert.field, "tls.certFile");
  assert.match(notCert.message, /holds no PEM certificate/);
  const notKey = await refused({ tls: { certFile: a.cert, keyFile: a.cert } });
  assert.equal(notKey.field, "tls.keyFile");
  assert.match(notKey.message, /holds no unencrypted PEM private key/);
});

test("a certificate outside its validity is refused; a key others can read is flagged", () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a", 2);
  const pair = readCertificatePair(a.cert, a.key);
  assert.equal(pair.keyExposed, false);
  const later = new Date(pair.notAfter.getTime() + 1000);
  assert.throws(
    () => readCertificatePair(a.cert, a.key, later),
    (e: unknown) => e instanceof CertificateError && e.field === "tls.certFile" && /expired/.test(e.message),
  );
  const earlier = new Date(pair.notBefore.getTime() - 1000);
  assert.throws(
    () => readCertificatePair(a.cert, a.key, earlier),
    (e: unknown) => e instanceof CertificateError && /not valid before/.test(e.message),
  );
  fs.chmodSync(a.key, 0o644);
  assert.equal(readCertificatePair(a.cert, a.key).keyExposed, true);
});

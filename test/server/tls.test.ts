import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import https from "node:https";
import path from "node:path";
import { after, test } from "node:test";
import tls from "node:tls";
import { answerJson, request } from "../../src/cli/http-answers.js";
import {
  CertificateError,
  readCertificatePair,
  ServerCertificate,
} from "../../src/server/server-certificate.js";
import { forewarm, submitArgs } from "../cli/cli-process.js";
import { eventually, type Harness, startHarness } from "./harness.js";
import {
  fingerprintOf,
  liveFiles,
  makeCa,
  makeServerCert,
  removeMadeCerts,
  replaceWith,
} from "./tls-certs.js";

after(removeMadeCerts);

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
    // The certificate in force, for whoever runs status (its expiry also feeds the alert).
    const notAfter = new Date(new crypto.X509Certificate(fs.readFileSync(a.cert)).validTo).toISOString();
    assert.match(
      status.stdout,
      new RegExp(`^tls: CN=a, expires ${notAfter.replaceAll(".", "\\.")} \\(in (29|30) days\\)$`, "m"),
    );
    assert.deepEqual(JSON.parse(health.text).tls, { subject: "CN=a", expires: notAfter });
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
    // A CA of NODE_EXTRA_CA_CERTS stays trusted beside another given with FOREWARM_CA (left set).
    const both = await forewarm(["status", "--url", h.server.url], {
      NODE_EXTRA_CA_CERTS: ca.cert,
      FOREWARM_CA: wrongCa.cert,
    });
    assert.equal(both.code, 0, both.stderr);
    const notPem = await forewarm(["status", "--url", h.server.url, "--ca", a.key]);
    assert.match(notPem.stderr, /--ca: .* holds no PEM certificate/);
  } finally {
    await h.server.close();
  }
});

test("a renewed certificate is served to new connections without a restart; a pair that does not check out leaves the previous one in force", async () => {
  const ca = makeCa();
  // Lifetimes apart, so that the expiry metric tells the three apart.
  const [a, b, c] = [makeServerCert(ca, "a", 30), makeServerCert(ca, "b", 60), makeServerCert(ca, "c", 90)];
  const live = liveFiles(ca.dir, a);
  const h = await startHarness({ tls: { certFile: live.cert, keyFile: live.key, recheckMs: 100 } });
  const served = () => servedFingerprint(h, ca.cert);
  const filesRejected = () => metric(h, /^forewarm_tls_certificate_files_rejected (\d)$/m);
  try {
    assert.equal(await served(), fingerprintOf(a.cert));
    // Both results are series from the start: an alert on the first rejection needs the 0 before it.
    assert.equal(await metric(h, /^forewarm_tls_certificate_reloads_total\{result="rejected"\} (\d+)$/m), 0);
    assert.equal(await filesRejected(), 0);
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
    assert.equal(await filesRejected(), 1, "the files hold a refused pair");
    assert.equal((await get(h, "/healthz", ca.cert)).status, 200);
    replaceWith(c.key, live.key);
    await eventually(async () => ((await served()) === fingerprintOf(c.cert) ? true : undefined), 200, 50);
    assert.equal(await filesRejected(), 0);
    assert.equal(
      await metric(h, /^forewarm_tls_certificate_expiry_timestamp_seconds (\d+)$/m),
      expirySeconds(c.cert),
    );

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

test("a certificate naming the server in subjectAltName alone (empty subject) is served, at start and as a renewal", async () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a");
  const bare = makeServerCert(ca, "bare", 30, { subject: "/" });
  const live = liveFiles(ca.dir, a);
  const h = await startHarness({ tls: { certFile: live.cert, keyFile: live.key, recheckMs: 100 } });
  try {
    replaceWith(bare.key, live.key);
    replaceWith(bare.cert, live.cert, 0o644);
    const fp = fingerprintOf(bare.cert);
    await eventually(async () => ((await servedFingerprint(h, ca.cert)) === fp ? true : undefined), 200, 50);
  } finally {
    await h.server.close();
  }
  const h2 = await startHarness({ tls: { certFile: bare.cert, keyFile: bare.key } });
  try {
    assert.equal((await get(h2, "/healthz", ca.cert)).status, 200);
  } finally {
    await h2.server.close();
  }
});

test("a chain completed behind the same certificate is served without a restart (a missing intermediate fixed)", async () => {
  const root = makeCa();
  const inter = makeServerCert(root, "inter", 30, { intermediate: true });
  const leaf = makeServerCert({ dir: root.dir, ...inter }, "leaf");
  const live = liveFiles(root.dir, leaf);
  const dir = path.dirname(live.cert);
  const h = await startHarness({ tls: { certFile: live.cert, keyFile: live.key, recheckMs: 100 } });
  try {
    // A client trusting the root cannot verify a leaf sent without its intermediate; the CLI says why.
    await assert.rejects(get(h, "/healthz", root.cert), /lacks its intermediate certificates/);
    const full = path.join(dir, "full.pem");
    fs.writeFileSync(full, fs.readFileSync(leaf.cert, "utf8") + fs.readFileSync(inter.cert, "utf8"));
    replaceWith(full, live.cert, 0o644);
    await eventually(
      async () =>
        (await get(h, "/healthz", root.cert).catch(() => undefined))?.status === 200 ? true : undefined,
      200,
      50,
    );
  } finally {
    await h.server.close();
  }
});

test("a renewed certificate not valid yet is refused once, then taken when its time comes, without a file change", () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a");
  const b = makeServerCert(ca, "b", 60);
  const live = liveFiles(ca.dir, a);
  const certificate = new ServerCertificate(live.cert, live.key);
  replaceWith(b.key, live.key);
  replaceWith(b.cert, live.cert, 0o644);
  const notBefore = readCertificatePair(b.cert, b.key).notBefore.getTime();
  // Looked at a little before its notBefore (a clock behind the issuer's).
  const early = certificate.recheck(new Date(notBefore - 5000));
  assert.ok(early && "error" in early && early.error.notYetValid, JSON.stringify(early));
  assert.equal(certificate.filesValid, false);
  assert.equal(certificate.recheck(new Date(notBefore - 4000)), undefined, "reported once");
  const taken = certificate.recheck(new Date(notBefore + 1000));
  assert.ok(taken && "pair" in taken);
  assert.equal(taken.pair.fingerprint, fingerprintOf(b.cert));
  assert.equal(certificate.filesValid, true);
  // A mismatched pair, by contrast, is read again only when a file changes.
  replaceWith(a.cert, live.cert, 0o644);
  const mismatch = certificate.recheck();
  assert.ok(mismatch && "error" in mismatch && !mismatch.error.notYetValid);
  assert.equal(certificate.recheck(), undefined);
  assert.equal(certificate.filesValid, false);
  // The pair in force written back: nothing new to serve, and the files are good again.
  replaceWith(b.cert, live.cert, 0o644);
  assert.equal(certificate.recheck(), undefined);
  assert.equal(certificate.filesValid, true);
});

test("the CLI's --ca requests follow redirects as fetch does, and send the token to the server's origin only", async () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a");
  const seen: { url: string; method: string; auth: string | undefined; type?: string | undefined }[] = [];
  const tlsOptions = { key: fs.readFileSync(a.key), cert: fs.readFileSync(a.cert) };
  const listen = (handler: http.RequestListener) =>
    new Promise<https.Server>((resolve) => {
      const server = https.createServer(tlsOptions, handler);
      server.listen(0, "127.0.0.1", () => resolve(server));
    });
  const portOf = (s: https.Server) => (s.address() as { port: number }).port;
  const other = await listen((req, res) => {
    seen.push({ url: `other${req.url}`, method: req.method!, auth: req.headers.authorization });
    res.setHeader("content-type", "application/json");
    res.end('{"at":"other"}');
  });
  const main = await listen((req, res) => {
    seen.push({
      url: req.url!,
      method: req.method!,
      auth: req.headers.authorization,
      type: req.headers["content-type"],
    });
    const go = (status: number, to: string) => {
      res.statusCode = status;
      res.setHeader("location", to);
      res.end();
    };
    if (req.url === "/moved") return go(307, "/here");
    if (req.url === "/see-other") return go(303, "/here");
    if (req.url === "/away") return go(302, `https://localhost:${portOf(other)}/there`);
    if (req.url === "/endless") {
      // A page that never ends: the CLI must judge it by its headers, not read it all.
      res.setHeader("content-type", "text/html");
      const chunk = "<p>".repeat(4096);
      const more = () => {
        while (res.write(chunk)) {}
      };
      res.on("drain", more);
      more();
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end('{"at":"here"}');
  });
  const base = `https://127.0.0.1:${portOf(main)}`;
  const access = { token: "fw_secret", ca: fs.readFileSync(ca.cert) };
  const post = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
  try {
    const endless = await request(`${base}/endless`, base, {}, access);
    await assert.rejects(answerJson(`${base}/endless`, endless), /answered 200 OK \(text\/html\), not JSON/);
    seen.splice(0);
    const moved = await request(`${base}/moved`, base, post, access);
    assert.equal(moved.status, 200);
    assert.deepEqual(await moved.json(), { at: "here" });
    assert.deepEqual(seen.splice(0), [
      { url: "/moved", method: "POST", auth: "Bearer fw_secret", type: "application/json" },
      { url: "/here", method: "POST", auth: "Bearer fw_secret", type: "application/json" },
    ]);
    await request(`${base}/see-other`, base, post, access);
    assert.deepEqual(
      seen.splice(0).map((r) => [r.method, r.type]),
      [
        ["POST", "application/json"],
        ["GET", undefined],
      ],
    );
    const away = await request(`${base}/away`, base, {}, access);
    assert.deepEqual(await away.json(), { at: "other" });
    assert.deepEqual(seen.splice(0), [
      { url: "/away", method: "GET", auth: "Bearer fw_secret", type: undefined },
      { url: "other/there", method: "GET", auth: undefined },
    ]);
  } finally {
    main.close();
    other.close();
  }
});

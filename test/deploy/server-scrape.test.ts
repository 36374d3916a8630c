import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { forewarm } from "../cli/cli-process.js";
import { eventually, startHarness, writeTask } from "../server/harness.js";
import { makeCa, makeServerCert, removeMadeCerts } from "../server/tls-certs.js";
import { type RunningPrometheus, startPrometheus } from "./prometheus-harness.js";

after(removeMadeCerts);

/** The first non-empty answer of `expr` (once a scrape has brought the series in). */
const firstScrape = (p: RunningPrometheus, expr: string) =>
  eventually(
    async () => {
      const r = await p.query(expr);
      return r.length > 0 ? r : undefined;
    },
    300,
    100,
  );

test("a real Prometheus scrapes the running server's /metrics and reads the task counters back", async () => {
  const h = await startHarness();
  // Without a Prometheus binary the test fails; the server must not keep the run alive behind it.
  const prometheus = await startPrometheus([new URL(h.server.url).host]).catch(async (err: unknown) => {
    await h.server.close();
    throw err;
  });
  try {
    writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    for (let i = 0; i < 3; i++) {
      const r = await h.post({ user: "p", runtime: "node", entry: "e.mjs", input: i }, "?wait=true");
      assert.equal(r.body.status, "succeeded");
    }
    const scraped = await eventually(
      async () => {
        const [cold] = await prometheus.query("forewarm_cold_starts_total");
        const [warm] = await prometheus.query("forewarm_warm_starts_total");
        return cold && warm && cold.value === 1 && warm.value === 2 ? { cold, warm } : undefined;
      },
      300,
      100,
    );
    assert.equal(scraped.cold.value, h.server.orchestrator.counters.coldStarts);
    assert.equal(scraped.warm.value, h.server.orchestrator.counters.warmStarts);
    const [leader] = await prometheus.query("forewarm_leader");
    assert.equal(leader?.value, 1, "the embedded server leads itself");
    const [ok] = await prometheus.query('forewarm_tasks_total{status="succeeded"}');
    assert.equal(ok?.value, 3);
  } finally {
    await prometheus.stop();
    await h.server.close();
  }
});

test("with API tokens, Prometheus scrapes with a metrics token; a scrape without one is refused", async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fw-tokens-")), "tokens.json");
  const issued = await forewarm(["token", "new", "--file", file, "--role", "metrics"]);
  assert.equal(issued.code, 0, issued.stderr);
  const h = await startHarness({ auth: { tokensFile: file } });
  const target = new URL(h.server.url).host;
  const started: { stop(): Promise<void> }[] = [];
  try {
    const withToken = await startPrometheus([target], { bearerToken: issued.stdout.trim() });
    started.push(withToken);
    const without = await startPrometheus([target]);
    started.push(without);
    const up = async (p: typeof withToken) => (await p.query("up"))[0]?.value;
    // The token's scrapes succeed (up 1); every scrape without it is refused, so its first reading is 0.
    await eventually(async () => ((await up(withToken)) === 1 ? true : undefined), 300, 100);
    assert.equal(await eventually(() => up(without), 300, 100), 0);
    const [leader] = await firstScrape(withToken, "forewarm_leader");
    assert.equal(leader?.value, 1);
    assert.deepEqual(await without.query("forewarm_leader"), [], "nothing scraped without the token");
  } finally {
    for (const p of started) await p.stop();
    await h.server.close();
  }
});

test("Prometheus scrapes an HTTPS server trusting its CA, and reads the certificate's expiry back; without the CA the scrape fails", async () => {
  const ca = makeCa();
  const a = makeServerCert(ca, "a");
  const h = await startHarness({ tls: { certFile: a.cert, keyFile: a.key } });
  const target = `${h.server.url}/metrics`;
  const started: { stop(): Promise<void> }[] = [];
  try {
    const trusting = await startPrometheus([target], { caFile: ca.cert });
    started.push(trusting);
    const untrusting = await startPrometheus([target]);
    started.push(untrusting);
    const [expiry] = await firstScrape(trusting, "forewarm_tls_certificate_expiry_timestamp_seconds");
    const notAfter = new crypto.X509Certificate(fs.readFileSync(a.cert)).validTo;
    assert.equal(expiry?.value, Math.floor(new Date(notAfter).getTime() / 1000));
    assert.equal((await trusting.query("up"))[0]?.value, 1);
    assert.equal(await eventually(async () => (await untrusting.query("up"))[0]?.value, 300, 100), 0);
  } finally {
    for (const p of started) await p.stop();
    await h.server.close();
  }
});

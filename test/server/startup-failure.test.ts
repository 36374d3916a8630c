import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import pg from "pg";
import { ConfigError, parseConfig } from "../../src/config/config.js";
import { silentLogger } from "../../src/log/logger.js";
import { startServer } from "../../src/server/serve.js";
import { eventually, startHarness } from "./harness.js";

const PG_URL = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

/** A fresh schema, server id and application name (which tags the sessions a server opens). */
function fresh() {
  const tag = `${process.pid}_${randomBytes(3).toString("hex")}`;
  return { schema: `fw_startfail_${tag}`, serverId: `startfail-${tag}`, app: `fw_startfail_${tag}` };
}

const withApp = (app: string) => `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}application_name=${app}`;

async function sessions(admin: pg.Client, app: string): Promise<number> {
  const r = await admin.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
    [app],
  );
  return r.rows[0]!.n;
}

test("a dataDir (or tasksDir) that is a file is refused naming the field, before anything is opened", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-startfail-"));
  const file = path.join(dir, "not-a-dir");
  fs.writeFileSync(file, "x");
  try {
    await assert.rejects(
      startServer(parseConfig({ port: 0, dataDir: file, logLevel: "silent" }), silentLogger()),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.field === "dataDir" &&
        e.message === `config dataDir: ${file} is a file, not a directory`,
    );
    assert.equal(fs.readFileSync(file, "utf8"), "x", "the file is left alone");
    // Under a file (ENOTDIR): the same, not the raw error.
    const under = path.join(file, "sub");
    await assert.rejects(
      startServer(parseConfig({ port: 0, dataDir: under, logLevel: "silent" }), silentLogger()),
      (e: unknown) =>
        e instanceof ConfigError && e.message === `config dataDir: ${under} is under a file, not a directory`,
    );
    await assert.rejects(
      startServer(
        parseConfig({ port: 0, dataDir: path.join(dir, "data"), tasksDir: file, logLevel: "silent" }),
        silentLogger(),
      ),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.field === "tasksDir" &&
        e.message === `config tasksDir: ${file} is a file, not a directory`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a start-up refused for a server id in use leaves no PostgreSQL session open (history pool, liveness)", async () => {
  const { schema, serverId, app } = fresh();
  const history = { kind: "postgres", url: PG_URL, schema };
  const first = await startHarness({ serverId, history, prediction: { enabled: false } });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await assert.rejects(
      startHarness({
        serverId,
        history: { ...history, url: withApp(app) },
        prediction: { enabled: false },
      }),
      /another live server already uses the server id/,
    );
    // Sessions end a moment after their client closes them; left open, the pool's idle ones stay
    // for its 10-s idle timeout.
    const open = await eventually(
      async () => ((await sessions(admin, app)) === 0 ? 0 : undefined),
      40,
      50,
      () => sessions(admin, app),
    );
    assert.equal(open, 0);
    assert.equal((await first.get("/healthz")).status, 200, "the server that holds the id runs on");
  } finally {
    await first.server.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
});

test("a process whose start-up was refused (server id in use) exits at once: nothing keeps it alive", async () => {
  const { schema, serverId } = fresh();
  const history = { kind: "postgres", url: PG_URL, schema };
  const first = await startHarness({ serverId, history, prediction: { enabled: false } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-startfail-"));
  const src = (rel: string) => new URL(`../../src/${rel}`, import.meta.url).href;
  // The second server, in a process of its own: it reports the refusal, then should simply end.
  const script = path.join(dir, "second.mjs");
  fs.writeFileSync(
    script,
    `import { parseConfig } from ${JSON.stringify(src("config/config.js"))};
import { silentLogger } from ${JSON.stringify(src("log/logger.js"))};
import { startServer } from ${JSON.stringify(src("server/serve.js"))};
const config = parseConfig(${JSON.stringify({
      port: 0,
      dataDir: path.join(dir, "data"),
      logLevel: "silent",
      serverId,
      history,
      prediction: { enabled: false },
    })});
await startServer(config, silentLogger()).then(
  () => console.log("started"),
  (err) => console.log("refused: " + err.message),
);
`,
  );
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    let refusedAt = 0;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!refusedAt && out.includes("\n")) refusedAt = Date.now();
    });
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    clearTimeout(kill);
    const lingered = Date.now() - refusedAt;
    assert.match(out, /^refused: another live server already uses the server id/);
    assert.equal(code, 0);
    assert.ok(lingered < 3_000, `the process lived on ${lingered} ms after the refusal`);
  } finally {
    await first.server.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a schema name PostgreSQL reserves is refused naming history.schema, not history.url", async () => {
  await assert.rejects(
    startServer(
      parseConfig({
        port: 0,
        dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "fw-startfail-")),
        logLevel: "silent",
        history: { kind: "postgres", url: PG_URL, schema: "pg_forewarm" },
      }),
      silentLogger(),
    ),
    (e: unknown) =>
      e instanceof ConfigError && e.field === "history.schema" && /unacceptable schema name/.test(e.message),
  );
});

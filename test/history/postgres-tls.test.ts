/**
 * The history over TLS: a private PostgreSQL cluster (initdb in a temp dir, as the postgres user) that
 * accepts TLS connections only, and servers whose history.url asks for a verified one.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { freePort } from "../deploy/prometheus-harness.js";
import { eventually, type Harness, startHarness, writeTask } from "../server/harness.js";
import { makeCa, makeServerCert, type Pem, removeMadeCerts } from "../server/tls-certs.js";

const isRoot = process.getuid?.() === 0;
const postgresBin = fs.existsSync("/usr/lib/postgresql")
  ? fs
      .readdirSync("/usr/lib/postgresql")
      .map((v) => path.join("/usr/lib/postgresql", v, "bin"))
      .find((d) => fs.existsSync(path.join(d, "initdb")))
  : undefined;
// initdb refuses to run as root: the cluster runs as the postgres user, which root can become.
const skip = !isRoot
  ? "a private PostgreSQL cluster is started as the postgres user, which needs root"
  : postgresBin === undefined
    ? "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql"
    : false;

let dir: string;
let port: number;
let ca: Pem & { dir: string };
let dbCert: Pem;
const asPostgres = (cmd: string, args: string[]) =>
  execFileSync("runuser", ["-u", "postgres", "--", path.join(postgresBin!, cmd), ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });

before(async () => {
  if (skip) return;
  ca = makeCa();
  dbCert = makeServerCert(ca, "db");
  dir = fs.mkdtempSync("/tmp/fw-pgtls-");
  fs.chmodSync(dir, 0o755);
  // The cluster writes its log and socket here.
  execFileSync("chown", ["postgres", dir]);
  // The key must belong to the server's user and be private to it, or PostgreSQL will not start.
  for (const f of ["db.pem", "db.key"]) {
    fs.copyFileSync(f === "db.pem" ? dbCert.cert : dbCert.key, path.join(dir, f));
    execFileSync("chown", ["postgres", path.join(dir, f)]);
  }
  fs.chmodSync(path.join(dir, "db.key"), 0o600);
  const data = path.join(dir, "data");
  fs.mkdirSync(data);
  execFileSync("chown", ["postgres", data]);
  asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres"]);
  port = await freePort();
  fs.appendFileSync(
    path.join(data, "postgresql.conf"),
    [
      "ssl = on",
      `ssl_cert_file = '${dir}/db.pem'`,
      `ssl_key_file = '${dir}/db.key'`,
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      "",
    ].join("\n"),
  );
  // TLS connections only: one without it is refused by the database itself.
  fs.writeFileSync(
    path.join(data, "pg_hba.conf"),
    "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
  );
  asPostgres("pg_ctl", ["-D", data, "-l", path.join(dir, "log"), "-w", "start"]);
});

after(() => {
  removeMadeCerts();
  if (skip || !dir) return;
  spawnSync("runuser", [
    "-u",
    "postgres",
    "--",
    path.join(postgresBin!, "pg_ctl"),
    "-D",
    path.join(dir, "data"),
    "-m",
    "immediate",
    "stop",
  ]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const url = (query: string) => `postgres://postgres@127.0.0.1:${port}/postgres${query}`;

/** A start that should be refused: its error, or a failure if the server started. */
async function refused(historyUrl: string): Promise<{ field: string; message: string }> {
  let h: Harness;
  try {
    h = await startHarness({ history: { kind: "postgres", url: historyUrl, schema: "fw_tls" } });
  } catch (e) {
    return { field: (e as { field: string }).field, message: (e as Error).message };
  }
  await h.server.close();
  throw new assert.AssertionError({ message: `the server started on ${historyUrl}` });
}

test("a server keeps its history in a PostgreSQL it reaches over verified TLS only", { skip }, async () => {
  const h = await startHarness({
    history: { kind: "postgres", url: url(`?sslmode=verify-full&sslrootcert=${ca.cert}`), schema: "fw_tls" },
  });
  try {
    writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    const r = await h.post({ user: "tls", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true");
    assert.equal(r.body.status, "succeeded");
    // The lease and the liveness lock hold connections of their own, over the same URL: the server
    // leads and is a member only if they got through (the database refuses anything but TLS).
    const health = await eventually(
      async () => {
        const b = (await h.get("/healthz")).body;
        return b.leader === true && b.clusterMember === true ? b : undefined;
      },
      100,
      100,
    );
    assert.equal(health.history, "postgres");
    // The row is in the database, and every connection the server holds there is encrypted.
    const check = new pg.Client({ connectionString: url(`?sslmode=verify-full&sslrootcert=${ca.cert}`) });
    await check.connect();
    try {
      const rows = await check.query(`SELECT count(*)::int AS n FROM fw_tls.tasks WHERE "user" = 'tls'`);
      assert.equal(rows.rows[0].n, 1);
      const conns = await check.query(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()",
      );
      assert.ok(conns.rows.length > 0, "the server holds connections");
      assert.ok(conns.rows.every((c: { ssl: boolean }) => c.ssl === true));
    } finally {
      await check.end();
    }
  } finally {
    await h.server.close();
  }
});

test("a history.url the database refuses, or whose CA does not sign it, stops the start naming history.url and what to change", {
  skip,
}, async () => {
  const plain = await refused(url(""));
  assert.equal(plain.field, "history.url");
  assert.match(
    plain.message,
    /no encryption.*accepts TLS connections only: add sslmode=verify-full&sslrootcert/,
  );
  const other = makeCa();
  const untrusted = await refused(url(`?sslmode=verify-full&sslrootcert=${other.cert}`));
  assert.equal(untrusted.field, "history.url");
  assert.match(untrusted.message, /certificate.*not trusted: name the CA that signed it with sslrootcert/);
  const secret = await refused(`postgres://postgres:hunter2@127.0.0.1:${port}/postgres?password=hunter3`);
  assert.doesNotMatch(secret.message, /hunter2|hunter3/, "the password is not repeated");
  assert.match(secret.message, /postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres\?password=\*\*\*:/);
});

test("a history.url asking for TLS of a database that serves none is refused with what to change", {
  skip,
}, async () => {
  // The same cluster with ssl off for a moment (reached over its socket, which pg_hba trusts).
  const local = new pg.Client({ host: dir, port, user: "postgres", database: "postgres" });
  await local.connect();
  const ssl = async (on: boolean) => {
    await local.query(`ALTER SYSTEM SET ssl = ${on ? "on" : "off"}`);
    await local.query("SELECT pg_reload_conf()");
    await eventually(
      async () => ((await local.query("SHOW ssl")).rows[0].ssl === (on ? "on" : "off") ? true : undefined),
      100,
      50,
    );
  };
  try {
    await ssl(false);
    const none = await refused(url(`?sslmode=verify-full&sslrootcert=${ca.cert}`));
    assert.equal(none.field, "history.url");
    assert.match(none.message, /does not support SSL.*serves no TLS: enable ssl on it, or drop sslmode/);
  } finally {
    await ssl(true);
    await local.end();
  }
});

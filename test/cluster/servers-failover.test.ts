import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import pg from "pg";
import { eventually, writeTask } from "../server/harness.js";
import { type ServedProcess, serveProcess, stopProcess } from "../server/serve-process.js";

const PG_URL = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
type Server = ServedProcess;

function serve(dataDir: string, schema: string, id: string): Promise<Server> {
  return serveProcess(dataDir, {
    FOREWARM_SERVER_ID: id,
    FOREWARM_HISTORY__KIND: "postgres",
    FOREWARM_HISTORY__URL: PG_URL,
    FOREWARM_HISTORY__SCHEMA: schema,
    FOREWARM_CLUSTER__LEASE_RETRY_MS: "300",
    FOREWARM_CLUSTER__GONE_AFTER_MS: "1000",
  });
}

const json = async (url: string, init?: RequestInit) =>
  (await (await fetch(url, init)).json()) as Record<string, unknown>;
const submit = (s: Server, body: unknown, wait: boolean) =>
  json(`${s.url}/v1/tasks?wait=${wait}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

test("two servers on one PostgreSQL: one leads; kill it and the other takes over and ends its tasks", async () => {
  const schema = `fw_cluster_${process.pid}_${randomBytes(3).toString("hex")}`;
  const dirA = fs.mkdtempSync(path.join(os.tmpdir(), "fw-a-"));
  const dirB = fs.mkdtempSync(path.join(os.tmpdir(), "fw-b-"));
  for (const d of [dirA, dirB]) {
    writeTask(path.join(d, "tasks"), "e.mjs", "export const handler = (x) => x;\n");
    writeTask(
      path.join(d, "tasks"),
      "slow.mjs",
      "export const handler = () => new Promise((r) => setTimeout(r, 60000));\n",
    );
  }
  const a = await serve(dirA, schema, "server-a");
  const b = await serve(dirB, schema, "server-b");
  try {
    const leaders = await eventually(async () => {
      const ha = await json(`${a.url}/healthz`);
      const hb = await json(`${b.url}/healthz`);
      return ha.leader !== hb.leader ? [ha, hb] : undefined;
    });
    assert.equal(leaders.filter((h) => h.leader === true).length, 1, "exactly one leader");
    const [leader, follower] = leaders[0]!.leader ? [a, b] : [b, a];

    // Both accept and run tasks; each sees the other's records in the shared history.
    const onLeader = await submit(leader, { user: "u", runtime: "node", entry: "e.mjs", input: 1 }, true);
    const onFollower = await submit(follower, { user: "u", runtime: "node", entry: "e.mjs", input: 2 }, true);
    assert.equal(onLeader.status, "succeeded");
    assert.equal(onFollower.status, "succeeded");
    assert.equal((await json(`${follower.url}/v1/tasks/${onLeader.id}`)).status, "succeeded");

    // A long task on the leader, then the leader dies.
    const stuck = await submit(leader, { user: "u", runtime: "node", entry: "slow.mjs" }, false);
    await eventually(async () =>
      (await json(`${follower.url}/v1/tasks/${stuck.id}`)).status === "running" ? true : undefined,
    );
    leader.child.kill("SIGKILL");

    await eventually(
      async () => ((await json(`${follower.url}/healthz`)).leader === true ? true : undefined),
      200,
      50,
    );
    const ended = await eventually(async () => {
      const t = await json(`${follower.url}/v1/tasks/${stuck.id}`);
      return t.status === "failed" ? t : undefined;
    });
    assert.match(String(ended.error), /server-.* died/);
    const after = await submit(follower, { user: "u", runtime: "node", entry: "e.mjs", input: 3 }, true);
    assert.equal(after.status, "succeeded");
  } finally {
    await Promise.all([a, b].map((s) => stopProcess(s.child)));
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
});

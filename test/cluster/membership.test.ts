import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import pg from "pg";
import { ClusterMembership, MEMBER_LOCK_CLASS } from "../../src/cluster/membership.js";
import { eventually, startHarness, writeTask } from "../server/harness.js";

const PG_URL = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const RETRY_MS = 100;
/** A task that returns once the flag file in its input exists. */
const WAIT_FOR_FLAG =
  "import fs from 'node:fs';\nexport async function handler(i) {\n  while (!fs.existsSync(i.flag)) await new Promise((r) => setTimeout(r, 10));\n  return 1;\n}\n";

/** A server id no other test uses. */
const freshId = () => `member-${process.pid}-${randomBytes(4).toString("hex")}`;

/** The backend holding `id`'s liveness lock, or null (read from pg_locks). */
async function holderOf(admin: pg.Client, id: string): Promise<number | null> {
  const r = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
       AND classid = $1::int::oid AND objid = hashtext($2)::oid AND objsubid = 2`,
    [MEMBER_LOCK_CLASS, id],
  );
  return r.rows[0]?.pid ?? null;
}

/** A membership that records what it hears. */
function member(id: string, retryMs = RETRY_MS) {
  const heard: string[] = [];
  const m = new ClusterMembership(PG_URL, id, {
    retryMs,
    events: {
      lost: () => heard.push("lost"),
      regained: () => heard.push("regained"),
      retryFailed: (err) => heard.push(`retry failed: ${err.message}`),
    },
  });
  return { m, heard };
}

test("while the leader fails a gone server's tasks under its lock, the server cannot come back; it starts once that is done", async () => {
  const id = freshId();
  const leader = new ClusterMembership(PG_URL, freshId());
  const x = member(id);
  let xStart: Promise<void> | undefined;
  let liveDuring: boolean | undefined;
  const failed = await leader.whileGone(id, async () => {
    xStart = x.m.start();
    // Longer than a start's few attempts at a lock a live server holds (about a second).
    await new Promise((r) => setTimeout(r, 2_500));
    liveDuring = x.m.live;
    return 7;
  });
  try {
    assert.equal(failed, 7, "gone: the work ran and its result is returned");
    assert.equal(liveDuring, false, "the server could not take its id while the work ran");
    await xStart;
    assert.equal(
      x.m.live,
      true,
      "it started once the check let the lock go (it waits for a check, not a refusal)",
    );
    let ran = false;
    const live = await leader.whileGone(id, async () => {
      ran = true;
    });
    assert.deepEqual([live, ran], [null, false], "live: nothing runs");
  } finally {
    await x.m.stop();
  }
});

test("a live server's id cannot be taken; once it stops, it is gone", async () => {
  const id = freshId();
  const a = member(id);
  const observer = new ClusterMembership(PG_URL, freshId());
  await a.m.start();
  try {
    assert.equal(a.m.live, true);
    assert.equal(await observer.isGone(id), false, "its lock is held");
    // Asking does not take the lock from it, nor keep it.
    assert.equal(await observer.isGone(id), false);
    const twin = new ClusterMembership(PG_URL, id);
    await assert.rejects(twin.start(), /another live server already uses the server id "member-/);
  } finally {
    await a.m.stop();
  }
  assert.equal(a.m.live, false);
  assert.equal(await observer.isGone(id), true, "the lock went with the session");
  assert.deepEqual(a.heard, [], "stopping is not a loss");
});

test("a liveness session that ends under a running server is opened again and the lock retaken", async () => {
  const id = freshId();
  const a = member(id);
  const observer = new ClusterMembership(PG_URL, freshId());
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await a.m.start();
  try {
    const before = await holderOf(admin, id);
    assert.ok(before, "the lock is held by a session");
    await admin.query("SELECT pg_terminate_backend($1)", [before]);
    await eventually(async () => (a.heard.includes("lost") ? true : undefined));
    // Live again, on a new session: the other servers see it alive.
    await eventually(async () => (a.heard.includes("regained") ? true : undefined));
    assert.equal(a.m.live, true);
    const after = await holderOf(admin, id);
    assert.ok(after !== null && after !== before, `a new session holds it (${before} → ${after})`);
    assert.equal(await observer.isGone(id), false);
    // (A retry may fail first while the database is still releasing the old session's lock.)
    assert.equal(a.heard[0], "lost");
    assert.equal(a.heard.at(-1), "regained");
    assert.ok(
      a.heard.slice(1, -1).every((h) => h.startsWith("retry failed:")),
      JSON.stringify(a.heard),
    );
  } finally {
    await a.m.stop();
    await admin.end();
  }
});

test("while another server holds the id, retaking it fails and is retried; it is retaken once that one goes", async () => {
  const id = freshId();
  // Retries 3 s apart: the twin (started as soon as the loss is heard) takes the id first.
  const a = member(id, 3_000);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await a.m.start();
  const twin = new ClusterMembership(PG_URL, id);
  try {
    const before = await holderOf(admin, id);
    assert.ok(before);
    await admin.query("SELECT pg_terminate_backend($1)", [before]);
    await eventually(async () => (a.heard.includes("lost") ? true : undefined), 200, 5);
    await twin.start();
    await eventually(async () => (a.heard.some((h) => h.startsWith("retry failed:")) ? true : undefined));
    assert.equal(a.m.live, false, "not live while the twin holds the id");
    assert.match(a.heard.find((h) => h.startsWith("retry failed:"))!, /another live server already uses/);
    await twin.stop();
    await eventually(async () => (a.heard.includes("regained") ? true : undefined));
    assert.equal(a.m.live, true);
    assert.equal(await holderOf(admin, id).then((p) => p !== null), true);
  } finally {
    await twin.stop();
    await a.m.stop();
    await admin.end();
  }
});

test("a session that stops answering (its backend frozen, the socket still open) counts as lost; the lock is retaken once that session is gone", async () => {
  const id = freshId();
  const heard: string[] = [];
  const m = new ClusterMembership(PG_URL, id, {
    retryMs: 100,
    checkTimeoutMs: 300,
    events: { lost: (err) => heard.push(`lost: ${err?.message}`), regained: () => heard.push("regained") },
  });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await m.start();
  let pid: number | null = null;
  try {
    pid = await holderOf(admin, id);
    assert.ok(pid);
    // A frozen backend answers nothing and closes nothing, like a database host that vanished.
    process.kill(pid, "SIGSTOP");
    await eventually(async () => (heard.length > 0 ? true : undefined));
    assert.match(heard[0]!, /^lost: the liveness session did not answer within 300 ms/);
    assert.equal(m.live, false);
    // The frozen session still holds the lock: nothing can be retaken until it is gone.
    process.kill(pid, "SIGCONT");
    pid = null;
    await eventually(async () => (heard.includes("regained") ? true : undefined));
    assert.equal(m.live, true);
  } finally {
    if (pid !== null) process.kill(pid, "SIGCONT");
    await m.stop();
    await admin.end();
  }
});

test("a membership stopped while it waits to retake its lock does not retake it", async () => {
  const id = freshId();
  const a = member(id, 500);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await a.m.start();
    const pid = await holderOf(admin, id);
    assert.ok(pid);
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await eventually(async () => (a.heard.includes("lost") ? true : undefined), 200, 5);
    await a.m.stop();
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await holderOf(admin, id), null, "nobody holds the id");
    assert.deepEqual(a.heard, ["lost"]);
    assert.equal(a.m.live, false);
  } finally {
    await a.m.stop();
    await admin.end();
  }
});

test("a server whose liveness session is cut says so on /healthz and /metrics until it has retaken it", async () => {
  const schema = `fw_member_${process.pid}_${randomBytes(3).toString("hex")}`;
  const h = await startHarness({
    serverId: freshId(),
    history: { kind: "postgres", url: PG_URL, schema },
    // A retry a second after the loss: long enough for the polls below to see the gap.
    cluster: { leaseRetryMs: 1_000 },
    prediction: { enabled: false },
  });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const member = async () => (await h.get("/healthz")).body.clusterMember;
  const gauge = async () => {
    const text = await (await fetch(`${h.server.url}/metrics`)).text();
    return Number(/^forewarm_cluster_member (\S+)$/m.exec(text)?.[1]);
  };
  try {
    assert.equal(await member(), true);
    assert.equal(await gauge(), 1);
    const pid = await holderOf(admin, h.server.serverId);
    assert.ok(pid, "the server holds its liveness lock");
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await eventually(async () => ((await member()) === false ? true : undefined), 200, 10);
    assert.equal(await gauge(), 0);
    // Meanwhile the leader would fail what it accepts: submissions are sent elsewhere.
    const refused = await h.post({ user: "m", runtime: "node", code: "export const handler = () => 1;" });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error, "not_cluster_member");
    await eventually(async () => ((await member()) === true ? true : undefined));
    assert.equal(await gauge(), 1);
    assert.ok(await holderOf(admin, h.server.serverId), "held again");
    // It serves on: a task it runs is recorded.
    writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    const r = (await h.post({ user: "m", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true")).body;
    assert.equal(r.status, "succeeded");
  } finally {
    await h.server.close();
    await admin.end();
  }
});

test("the leader does not fail a live follower's task while the follower retakes its cut liveness session", async () => {
  const schema = `fw_member_${process.pid}_${randomBytes(3).toString("hex")}`;
  const history = { kind: "postgres", url: PG_URL, schema };
  // The leader sweeps every 200 ms; the follower retakes its lock 3 s after losing it (a database
  // restart looks like this to the leader: the follower's lock free for a while).
  const leader = await startHarness({
    serverId: freshId(),
    history,
    cluster: { leaseRetryMs: 200, goneAfterMs: 8_000 },
    prediction: { enabled: false },
  });
  const follower = await startHarness({
    serverId: freshId(),
    history,
    cluster: { leaseRetryMs: 3_000 },
    prediction: { enabled: false },
  });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await eventually(async () => ((await leader.get("/healthz")).body.leader === true ? true : undefined));
    assert.equal((await follower.get("/healthz")).body.leader, false);
    writeTask(follower.tasksDir, "flag.mjs", WAIT_FOR_FLAG);
    const flag = path.join(follower.dir, "go");
    const t = (await follower.post({ user: "m", runtime: "node", entry: "flag.mjs", input: { flag } })).body;
    await eventually(async () =>
      (await follower.get(`/v1/tasks/${String(t.id)}`)).body.status === "running" ? true : undefined,
    );
    const pid = await holderOf(admin, follower.server.serverId);
    assert.ok(pid, "the follower holds its liveness lock");
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await eventually(
      async () => ((await follower.get("/healthz")).body.clusterMember === true ? true : undefined),
      200,
      50,
    );
    // The leader saw the lock free for about 3 s, in about 15 sweeps: not long enough to call it dead.
    fs.writeFileSync(flag, "");
    const done = await eventually(async () => {
      const r = (await follower.get(`/v1/tasks/${String(t.id)}`)).body;
      return r.status === "running" ? undefined : r;
    });
    assert.equal(done.status, "succeeded", String(done.error));
  } finally {
    await follower.server.close();
    await leader.server.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
});

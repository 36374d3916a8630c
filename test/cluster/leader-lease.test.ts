import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { after, test } from "node:test";
import pg from "pg";
import { LeaderLease } from "../../src/cluster/leader-lease.js";
import { ClusterMembership } from "../../src/cluster/membership.js";
import { quoteIdent } from "../../src/history/postgres-migrations.js";

const DATABASE_URL = process.env.FOREWARM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const RETRY_MS = 300;
/** Generous: takeover should take about RETRY_MS, but CI machines stall. */
const DEADLINE_MS = 20 * RETRY_MS + 10_000;

const schemas: string[] = [];
function freshSchema(): string {
  const name = `fw_test_${process.pid}_${randomBytes(3).toString("hex")}_lease`;
  schemas.push(name);
  return name;
}

after(async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
  await client.end();
});

async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  deadlineMs = DEADLINE_MS,
): Promise<void> {
  const stopAt = Date.now() + deadlineMs;
  while (!(await ok())) {
    if (Date.now() > stopAt) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Participant {
  child: ChildProcess;
  pid: number;
  /** Last transition printed: "leader" or "follower" (undefined until the first). */
  state?: string;
  leaderAt?: number;
}

function spawnParticipant(schema: string): Participant {
  const script = path.join(process.cwd(), "dist/test/cluster/lease-child.js");
  const child = spawn(process.execPath, [script, DATABASE_URL, schema, String(RETRY_MS)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const p: Participant = { child, pid: child.pid ?? -1 };
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const msg = JSON.parse(line) as { event: string };
    if (msg.event === "leader" || msg.event === "follower") p.state = msg.event;
    if (msg.event === "leader") p.leaderAt = Date.now();
  });
  return p;
}

test("two server processes: exactly one leads; SIGKILL the leader and the other takes over", async (t) => {
  const schema = freshSchema();
  const a = spawnParticipant(schema);
  const b = spawnParticipant(schema);
  const observer = new LeaderLease({ connectionString: DATABASE_URL, schema });
  try {
    await until("both to report", () => a.state !== undefined && b.state !== undefined);
    await until("a leader", () => a.state === "leader" || b.state === "leader");
    // Several retry rounds later there is still exactly one.
    await new Promise((r) => setTimeout(r, 4 * RETRY_MS));
    assert.deepEqual([a.state, b.state].sort(), ["follower", "leader"]);
    const [leader, follower] = a.state === "leader" ? [a, b] : [b, a];
    const holder = await observer.leaderInfo();
    assert.equal(holder?.pid, leader.pid);
    assert.equal(holder?.stale, false);

    const killedAt = Date.now();
    leader.child.kill("SIGKILL");
    await until("the follower to take over", () => follower.state === "leader");
    const takeoverMs = (follower.leaderAt ?? Date.now()) - killedAt;
    assert.ok(takeoverMs < DEADLINE_MS, `takeover took ${takeoverMs} ms`);
    t.diagnostic(`takeover ${takeoverMs} ms after SIGKILL (retryMs ${RETRY_MS})`);
    await until(
      "the lease row to name the new leader",
      async () => (await observer.leaderInfo())?.pid === follower.pid,
    );
  } finally {
    for (const p of [a, b])
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
    await Promise.all(
      [a, b].map((p) =>
        p.child.exitCode !== null || p.child.signalCode !== null
          ? undefined
          : new Promise((r) => p.child.once("exit", r)),
      ),
    );
  }
});

test("stop() hands the lease over; onChange and isLeader follow", async () => {
  const schema = freshSchema();
  const changes: string[] = [];
  const first = new LeaderLease({
    connectionString: DATABASE_URL,
    schema,
    retryMs: RETRY_MS,
    onChange: (l) => changes.push(`first:${l}`),
  });
  const second = new LeaderLease({ connectionString: DATABASE_URL, schema, retryMs: RETRY_MS });
  second.on("change", (l) => changes.push(`second:${l}`));
  try {
    await first.start();
    await second.start();
    assert.equal(first.isLeader(), true);
    assert.equal(second.isLeader(), false);
    assert.equal((await second.leaderInfo())?.holderId, first.holderId);
    await first.stop();
    assert.equal(first.isLeader(), false);
    await until("second to lead", () => second.isLeader());
    assert.deepEqual(changes, ["first:true", "first:false", "second:true"]);
    assert.equal((await first.leaderInfo())?.holderId, second.holderId);
  } finally {
    await first.stop();
    await second.stop();
  }
});

test("a leader whose session is terminated steps down, and the lease is taken again", async () => {
  const schema = freshSchema();
  const changes: boolean[] = [];
  const lease = new LeaderLease({
    connectionString: DATABASE_URL,
    schema,
    retryMs: RETRY_MS,
    onChange: (l) => changes.push(l),
  });
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    await lease.start();
    assert.equal(lease.isLeader(), true);
    const before = await lease.leaderInfo();
    assert.ok(before);
    await admin.query("SELECT pg_terminate_backend($1)", [before.backendPid]);
    await until("stepping down", () => changes.includes(false));
    // The lock died with the session, so the next attempt (on a new session) wins it back.
    await until("leading again", () => lease.isLeader());
    const again = await lease.leaderInfo();
    assert.notEqual(again?.backendPid, before.backendPid);
    assert.deepEqual(changes, [true, false, true]);
  } finally {
    await lease.stop();
    await admin.end();
  }
});

test("a database that accepts connections but never answers does not hang the lease's or the membership's start and stop", async () => {
  // A black hole: connections are accepted, nothing is ever sent back.
  const sockets = new Set<net.Socket>();
  const hole = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
  const port = (hole.address() as net.AddressInfo).port;
  const url = `postgres://postgres@127.0.0.1:${port}/test`;
  const errors: string[] = [];
  const lease = new LeaderLease({
    connectionString: url,
    retryMs: 200,
    timeoutMs: 300,
    onError: (e) => errors.push(e.message),
  });
  const member = new ClusterMembership(url, "hole-member", { retryMs: 200, checkTimeoutMs: 300 });
  // A bound on each step: without the timeouts each of these waits for ever.
  const within = <T>(p: Promise<T>, what: string) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} hung`)), 5_000)),
    ]);
  try {
    await within(lease.start(), "lease start");
    assert.equal(lease.isLeader(), false);
    assert.ok(errors.length >= 1, "the failed attempt is reported");
    await within(lease.stop(), "lease stop");
    await assert.rejects(within(member.start(), "membership start"), /timeout|terminated/i);
    await within(member.stop(), "membership stop");
  } finally {
    for (const s of sockets) s.destroy();
    hole.close();
  }
});

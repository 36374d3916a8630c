import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { eventually, type Harness, sleep, startHarness, writeTask } from "../server/harness.js";

const PG_URL = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
/**
 * Scaled time: a minute is 1 s of wall time. The 1-minute reactive floor must outlast the planner's
 * first hold on a loaded machine: at 0.5 s (120×) two busy cores starved it, and the environment was
 * reclaimed before it was held.
 */
const SCALE = 60;

type Env = { id: string; user: string; state: string; hold: unknown };
const environmentsOf = async (h: Harness): Promise<Env[]> =>
  (await h.get("/v1/environments")).body.environments as Env[];

/** Two servers on one fresh PostgreSQL schema, once one of them leads; `close` stops both. */
async function startPair(windowPolicy?: string) {
  const schema = `fw_follow_${process.pid}_${randomBytes(3).toString("hex")}`;
  const config = {
    timeScale: SCALE,
    reclaimIntervalMs: 20,
    history: { kind: "postgres", url: PG_URL, schema },
    cluster: { leaseRetryMs: 200 },
    prediction: { retrainIntervalMs: 1_000, planIntervalMs: 20, ...(windowPolicy ? { windowPolicy } : {}) },
  };
  const a = await startHarness(config);
  const b = await startHarness(config);
  const close = async () => {
    await a.server.close().catch(() => undefined);
    await b.server.close().catch(() => undefined);
  };
  try {
    const aLeads = await eventually(async () =>
      a.server.role.isLeader !== b.server.role.isLeader ? [a.server.role.isLeader] : undefined,
    );
    const [leader, follower] = aLeads[0] ? [a, b] : [b, a];
    return { leader, follower, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** What a failed wait prints: the server's plan, environments, decisions and reactive keep-alive. */
async function stateOf(h: Harness): Promise<unknown> {
  const plan = (await h.get("/v1/plan")).body;
  return {
    now: plan.now,
    desired: plan.desired,
    skipped: plan.skipped,
    actual: plan.actual,
    reclaims: (plan.counters as { reclaimsByReason: unknown }).reclaimsByReason,
    decisions: (await h.get("/v1/decisions")).body.decisions,
    health: (await h.get("/healthz")).body,
  };
}

/** Runs one task of user f on `h` and waits for it; the environment it ran in. */
async function runTask(h: Harness): Promise<string> {
  writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
  const r = (await h.post({ user: "f", type: "e", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true"))
    .body;
  assert.equal(r.status, "succeeded");
  return String(r.environmentId);
}

test("every server plans its own pool from its windows; taking over only adds retraining: the follower's held environment stays held", async () => {
  const { leader, follower, close } = await startPair();
  try {
    const lastRetrain = async (h: Harness) => (await h.get("/v1/plan")).body.lastRetrain as unknown;
    const ranIn = await runTask(follower);
    // The follower's own windows hold the environment the task ran in (a new series gets the prior's
    // window), and its reactive keep-alive is the planning server's 1-minute floor.
    const envs = () => environmentsOf(follower);
    const held = await eventually(
      async () => (await envs()).find((e) => e.id === ranIn && e.hold !== null),
      undefined,
      undefined,
      () => stateOf(follower),
    );
    assert.equal((await follower.get("/healthz")).body.keepAliveMs, 60_000, "its windows plan");
    // Once the busy minute is over, the follower decides the window after it itself.
    await eventually(
      async () => {
        const decided = (await follower.get("/v1/decisions")).body.decisions as { user: string }[];
        return decided.some((w) => w.user === "f") ? true : undefined;
      },
      undefined,
      undefined,
      () => stateOf(follower),
    );
    // Only the leader retrains the forecast models.
    await eventually(async () => ((await lastRetrain(leader)) ? true : undefined));
    assert.equal(await lastRetrain(follower), null);

    // The leader goes; the follower takes over: its windows and holds go on, and it retrains.
    await leader.server.close();
    await eventually(async () => (follower.server.role.isLeader ? true : undefined), 400, 25);
    await eventually(async () => ((await lastRetrain(follower)) ? true : undefined));
    const still = (await envs()).find((e) => e.id === held.id);
    assert.ok(still && still.hold !== null, `still held: ${JSON.stringify(await envs())}`);
    assert.equal((await follower.get("/healthz")).body.keepAliveMs, 60_000);
    // Taking over released nothing and let nothing age out. (A shadow the plan adds while a slow cold
    // start still runs the task into a later minute, and reclaims when it ends, is the plan's own.)
    const reclaims = (await follower.get("/v1/plan")).body.counters as {
      reclaimsByReason: Record<string, number>;
    };
    for (const reason of ["not planning: shutting down or leadership lost", "keep-alive expired"])
      assert.equal(reclaims.reclaimsByReason[reason], undefined, JSON.stringify(reclaims.reclaimsByReason));
  } finally {
    await close();
  }
});

test("with forecast windows a follower plans nothing and keeps the reactive 10-minute keep-alive", async () => {
  const { follower, close } = await startPair("threshold");
  try {
    await runTask(follower);
    // Three scaled minutes idle: past the 1-minute floor of a planning server, inside 10 minutes.
    await sleep((3 * 60_000) / SCALE);
    const warm = (await environmentsOf(follower)).find((e) => e.user === "f" && e.state === "ready");
    assert.ok(warm, "the follower's environment was kept");
    assert.equal(warm.hold, null, "and no plan holds it");
    assert.equal((await follower.get("/healthz")).body.keepAliveMs, 600_000);
    assert.deepEqual((await follower.get("/v1/plan")).body.desired, [], "it plans nothing");
  } finally {
    await close();
  }
});

test("a server that stops planning (shutting down, or losing the lease with forecast windows) releases every hold: its environments age out", async () => {
  const h = await startHarness({
    timeScale: SCALE,
    reclaimIntervalMs: 20,
    prediction: { retrainIntervalMs: 1_000, planIntervalMs: 20 },
  });
  try {
    writeTask(h.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    const r = (
      await h.post({ user: "g", type: "e", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true")
    ).body;
    assert.equal(r.status, "succeeded");
    const envs = () => environmentsOf(h);
    // The window after the busy minute holds the environment (a new series gets the prior's window).
    await eventually(
      async () => ((await envs()).some((e) => e.hold !== null) ? true : undefined),
      undefined,
      undefined,
      () => stateOf(h),
    );
    h.server.prediction!.stop();
    assert.ok(
      (await envs()).every((e) => e.hold === null),
      "no hold survives",
    );
    // Unheld and past the reactive 10-minute keep-alive of a server that does not plan: gone.
    await eventually(
      async () => ((await envs()).length === 0 ? true : undefined),
      200,
      (12 * 60_000) / SCALE / 100,
    );
  } finally {
    await h.server.close();
  }
});

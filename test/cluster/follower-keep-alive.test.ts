import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { eventually, type Harness, sleep, startHarness, writeTask } from "../server/harness.js";

const PG_URL = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
/** Scaled time: a minute is 0.5 s of wall time. */
const SCALE = 120;

type Env = { id: string; user: string; state: string; hold: unknown };
const environmentsOf = async (h: Harness): Promise<Env[]> =>
  (await h.get("/v1/environments")).body.environments as Env[];

test("a follower keeps the reactive 10-minute keep-alive; when it takes over, its warm environment is planned, not reclaimed", async () => {
  const schema = `fw_follow_${process.pid}_${randomBytes(3).toString("hex")}`;
  const config = {
    timeScale: SCALE,
    reclaimIntervalMs: 20,
    history: { kind: "postgres", url: PG_URL, schema },
    cluster: { leaseRetryMs: 200 },
    prediction: { retrainIntervalMs: 1_000, planIntervalMs: 20 },
  };
  const a = await startHarness(config);
  const b = await startHarness(config);
  try {
    const leaders = await eventually(async () => {
      const la = a.server.role.isLeader;
      const lb = b.server.role.isLeader;
      return la !== lb ? [la, lb] : undefined;
    });
    const [leader, follower] = leaders[0] ? [a, b] : [b, a];
    writeTask(follower.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    const r = (
      await follower.post({ user: "f", type: "e", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true")
    ).body;
    assert.equal(r.status, "succeeded");
    // Three scaled minutes idle: past the 1-minute floor of a planning server, inside 10 minutes.
    await sleep((3 * 60_000) / SCALE);
    const envs = () => environmentsOf(follower);
    const warm = (await envs()).find((e) => e.user === "f" && e.state === "ready");
    assert.ok(warm, `the follower's environment was reclaimed: ${JSON.stringify(await envs())}`);
    assert.equal((await follower.get("/healthz")).body.keepAliveMs, 600_000);

    // The leader goes; the follower takes over. Until its windows have relearned the history and
    // planned, the idle environment keeps the reactive keep-alive; then the plan holds it.
    await leader.server.close();
    await eventually(async () => (follower.server.role.isLeader ? true : undefined), 400, 25);
    const held = await eventually(async () =>
      (await envs()).find((e) => e.id === warm.id && e.hold !== null),
    );
    assert.equal(held.state, "ready");
    assert.equal((await follower.get("/healthz")).body.keepAliveMs, 60_000, "its windows plan now");
    const reclaims = (await follower.get("/v1/plan")).body.counters as { reclaimsByReason: object };
    assert.deepEqual(reclaims.reclaimsByReason, {}, "nothing was reclaimed on the way");
  } finally {
    await a.server.close().catch(() => undefined);
    await b.server.close().catch(() => undefined);
  }
});

test("a server that stops planning (leadership lost) releases every hold: its environments age out", async () => {
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
    await eventually(async () => ((await envs()).some((e) => e.hold !== null) ? true : undefined));
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

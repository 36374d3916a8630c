import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { eventually, sleep, startHarness, writeTask } from "../server/harness.js";

const PG_URL = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
/** Scaled time: a minute is 0.5 s of wall time. */
const SCALE = 120;

test("a follower plans no shadows, so its idle environments keep the reactive 10-minute keep-alive", async () => {
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
    const follower = leaders[0] ? b : a;
    writeTask(follower.tasksDir, "e.mjs", "export const handler = (x) => x;\n");
    const r = (
      await follower.post({ user: "f", type: "e", runtime: "node", entry: "e.mjs", input: 1 }, "?wait=true")
    ).body;
    assert.equal(r.status, "succeeded");
    // Three scaled minutes idle: past the 1-minute floor of a planning server, inside 10 minutes.
    await sleep((3 * 60_000) / SCALE);
    const envs = (await follower.get("/v1/environments")).body.environments as {
      user: string;
      state: string;
    }[];
    assert.ok(
      envs.some((e) => e.user === "f" && e.state === "ready"),
      `the follower's environment was reclaimed: ${JSON.stringify(envs)}`,
    );
  } finally {
    await a.server.close();
    await b.server.close();
  }
});

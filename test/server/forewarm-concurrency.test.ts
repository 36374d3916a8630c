import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, forewarmServerConfig, sleep, startHarness, writeTask } from "./harness.js";

/** Time runs 60× faster: one scaled minute is 1 s of wall time. */
const SCALE = 60;
const MINUTE = 60_000;
const ROUNDS = 10;
const FAN = 3;

test("live forewarm windows hold as many environments as a series ran tasks at once", async (t) => {
  const h = await startHarness(forewarmServerConfig(SCALE, { price: 1, memRefMb: 256 }, { maxPerSeries: 8 }));
  try {
    // Each task holds its worker 150 ms of wall time (9 scaled s), so a fan-out of 3 runs at once even
    // when a loaded machine routes its three requests tens of milliseconds apart (40 ms was not enough).
    writeTask(
      h.tasksDir,
      "fan.mjs",
      "export const handler = (x) => { const end = Date.now() + 150; while (Date.now() < end); return { ok: x.i }; };\n",
    );
    const t0 = Date.now();
    const v0 = (await h.get("/v1/environments")).body.now as number;
    const base = (Math.floor(v0 / MINUTE) + 1) * MINUTE;
    const cold: number[] = [];
    // Every other scaled minute, 30 s into it: FAN tasks of one series submitted together.
    for (let r = 0; r < ROUNDS; r++) {
      const at = base + r * 2 * MINUTE + 30_000;
      await sleep(Math.max(0, (at - (v0 + (Date.now() - t0) * SCALE)) / SCALE));
      const records = await Promise.all(
        Array.from({ length: FAN }, (_, i) =>
          h.post(
            { user: "dave", type: "fan", runtime: "node", entry: "fan.mjs", input: { i } },
            "?wait=true",
          ),
        ),
      );
      for (const rec of records) assert.equal(rec.body.status, "succeeded", JSON.stringify(rec.body));
      cold.push(records.filter((rec) => rec.body.cold === true).length);
    }
    const decisions = await eventually(async () => {
      const ds = (await h.get("/v1/decisions")).body.decisions as { environments: number; ka: number }[];
      return ds.length >= ROUNDS ? ds : undefined;
    }, 200);
    t.diagnostic(
      `cold per round ${cold.join(" ")}; environments ${decisions.map((d) => d.environments).join(" ")}`,
    );
    // The series' concurrency reaches the decisions: 3 tasks ran at once. Not necessarily the first
    // decision: on a loaded machine the first cold starts can outlast their minute, and a task still
    // starting, of a series none of whose tasks has run yet, has no run time to count it with.
    assert.ok(
      decisions.slice(1).every((d) => d.environments === FAN),
      decisions.map((d) => d.environments).join(" "),
    );
    // So once the gaps are learnt, all three of a round start warm, not one (a loaded machine may cost one).
    const late = cold.slice(ROUNDS / 2).reduce((a, b) => a + b, 0);
    assert.ok(late <= 1, `cold starts in the last ${ROUNDS / 2} rounds: ${cold.slice(ROUNDS / 2).join(" ")}`);
  } finally {
    await h.server.close();
  }
});

import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import type { BackendEnvironment } from "../../src/backends/backend.js";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { VirtualClock } from "../../src/core/clock.js";
import type { EnvironmentSpec } from "../../src/core/types.js";
import { silentLogger } from "../../src/log/logger.js";
import { eventually, startHarness, writeTask } from "./harness.js";

const MINUTE = 60_000;

/** The real process backend, whose environments start only once `open` is called. */
class GatedProcessBackend extends ProcessBackend {
  private openGate!: () => void;
  private readonly gate = new Promise<void>((r) => {
    this.openGate = r;
  });
  open(): void {
    this.openGate();
  }
  override async create(id: string, user: string, spec: EnvironmentSpec): Promise<BackendEnvironment> {
    await this.gate;
    return super.create(id, user, spec);
  }
}

test("a burst's concurrency is recorded in the minute it arrived, though it starts in the next", async () => {
  // Virtual time, 59 s into a minute: the three tasks arrive in minute m and start in m + 1.
  const m = Math.floor(Date.now() / MINUTE);
  const clock = new VirtualClock(m * MINUTE + 59_000);
  let backend: GatedProcessBackend | undefined;
  const h = await startHarness(
    {},
    {
      clock,
      backend: (dir) => {
        backend = new GatedProcessBackend({ workDir: path.join(dir, "envs"), logger: silentLogger() });
        return backend;
      },
    },
  );
  try {
    // Each holds its worker for 1.5 s of wall time, so the three run at once however slowly they start.
    writeTask(
      h.tasksDir,
      "hold.mjs",
      "export const handler = async (x) => { await new Promise((r) => setTimeout(r, 1500)); return { ok: x.i }; };\n",
    );
    const accepted = await Promise.all(
      [0, 1, 2].map((i) =>
        h.post({ user: "erin", type: "burst", runtime: "node", entry: "hold.mjs", input: { i } }),
      ),
    );
    for (const a of accepted) assert.equal(a.status, 202, JSON.stringify(a.body));
    clock.set((m + 1) * MINUTE + 1_000);
    backend!.open();
    for (const a of accepted) {
      const id = a.body.id as string;
      const record = await eventually(async () => {
        const r = (await h.get(`/v1/tasks/${id}`)).body;
        return r.status === "succeeded" || r.status === "failed" ? r : undefined;
      }, 400);
      assert.equal(record.status, "succeeded", JSON.stringify(record));
      assert.equal(record.submittedAt, m * MINUTE + 59_000);
      assert.ok((record.startedAt as number) >= (m + 1) * MINUTE, "started in the next minute");
    }
    const rows = await h.server.store.rollups({
      user: "erin",
      taskType: "burst",
      fromMinute: m,
      toMinute: m,
    });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.arrivals, 3);
    assert.equal(rows[0]!.peakConcurrency, 3, "the burst ran 3 at once, counted in its arrival minute");
  } finally {
    await h.server.close();
  }
});

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { BackendEnvironment } from "../../src/backends/backend.js";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { RealClock } from "../../src/core/clock.js";
import type { EnvironmentSpec, Runtime } from "../../src/core/types.js";
import { silentLogger } from "../../src/log/logger.js";
import { EnvironmentPool } from "../../src/pool/environment-pool.js";
import { pidRunning } from "../backends/helpers.js";

/** The real process backend whose creates wait for `open()`: a reclaim can land before the spawn. */
class GatedCreateBackend extends ProcessBackend {
  private release!: () => void;
  private readonly gate = new Promise<void>((r) => {
    this.release = r;
  });
  readonly created: BackendEnvironment[] = [];
  open(): void {
    this.release();
  }
  override async create(id: string, user: string, spec: EnvironmentSpec): Promise<BackendEnvironment> {
    await this.gate;
    const env = await super.create(id, user, spec);
    this.created.push(env);
    return env;
  }
}

for (const runtime of ["node", "python3"] as const satisfies readonly Runtime[]) {
  test(`an environment reclaimed before its worker is spawned leaves no worker behind (${runtime})`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-reclaim-start-"));
    const backend = new GatedCreateBackend({ logger: silentLogger(), workDir: dir });
    const pool = new EnvironmentPool(
      backend,
      new RealClock(),
      { cpu: 8, memoryMb: 4096, maxEnvironments: 8 },
      silentLogger(),
      () => {},
    );
    try {
      const spec = {
        runtime,
        dependencies: [],
        resources: { cpu: 1, memoryMb: 256, storageMb: 0, networkMbps: 0 },
      };
      const env = pool.add("alice", spec, true);
      const up = pool.bringUp(env);
      // E.g. the plan releasing a shadow that is still starting: the backend has no worker to destroy yet.
      assert.ok(pool.reclaim(env.id, "released by the plan"));
      backend.open();
      assert.equal(await up, "environment reclaimed while starting");
      assert.equal(backend.created.length, 1, "the backend did create the worker");
      assert.deepEqual(backend.list(), [], "the backend holds no environment");
      const pid = backend.created[0]?.pid;
      assert.ok(pid != null && !pidRunning(pid), `worker ${pid} was ended`);
      assert.equal(pool.snapshot().environments.length, 0);
    } finally {
      await backend.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { serveProcess, stopProcess } from "./serve-process.js";

const needsRoot = process.getuid?.() === 0 ? false : "tenant uids need a server started as root";
const ENV = { FOREWARM_TENANT_UIDS__ENABLED: "true", FOREWARM_TENANT_UIDS__FIRST: "310000" };

// A parent other users can enter, as a data directory for tenant uids needs.
const parent = mkdtempSync(join(tmpdir(), "forewarm-tenant-server-"));
chmodSync(parent, 0o755);
after(() => rmSync(parent, { recursive: true, force: true }));

/** A tenant's task that reports what it can reach of the server's data directory. */
const PROBE = `import fs from "node:fs";
const attempt = (f) => { try { f(); return "ok"; } catch (e) { return e.code; } };
export function handler({ dataDir }) {
  return {
    uid: process.getuid(),
    history: attempt(() => fs.readFileSync(dataDir + "/history.db")),
    listData: attempt(() => fs.readdirSync(dataDir)),
    listEnvs: attempt(() => fs.readdirSync(dataDir + "/envs")),
    listCode: attempt(() => fs.readdirSync(dataDir + "/code")),
    signalServer: attempt(() => process.kill(process.ppid, 0)),
  };
}
`;

test("a served instance with tenantUids runs each tenant as its own uid, outside the server's files", {
  skip: needsRoot,
}, async () => {
  const dataDir = mkdtempSync(join(parent, "data-"));
  // A history an earlier run without tenant uids left readable by all: made private at start.
  await stopProcess((await serveProcess(dataDir)).child);
  assert.notEqual(statSync(join(dataDir, "history.db")).mode & 0o004, 0);
  let served = await serveProcess(dataDir, ENV);
  try {
    const submit = async (user: string) => {
      const res = await fetch(`${served.url}/v1/tasks?wait=true&timeoutMs=60000`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user, runtime: "node", code: PROBE, input: { dataDir } }),
      });
      const task = (await res.json()) as {
        status: string;
        error: string | null;
        output: Record<string, unknown>;
      };
      assert.equal(task.status, "succeeded", task.error ?? "");
      return task.output;
    };
    const alice = await submit("alice");
    const bob = await submit("bob");
    assert.equal(alice.uid, 310_000);
    assert.equal(bob.uid, 310_001);
    for (const seen of [alice, bob])
      assert.deepEqual(
        { ...seen, uid: 0 },
        {
          uid: 0,
          history: "EACCES",
          listData: "EACCES",
          listEnvs: "EACCES",
          listCode: "EACCES",
          signalServer: "EPERM",
        },
      );
    for (const f of ["history.db", "tenant-uids.json"])
      assert.equal(statSync(join(dataDir, f)).mode & 0o077, 0, `${f} is the server's alone`);
    // Restarted, bob comes first and still gets his uid, not the first one (alice's).
    await stopProcess(served.child);
    served = await serveProcess(dataDir, ENV);
    assert.equal((await submit("bob")).uid, 310_001);
    assert.equal((await submit("carol")).uid, 310_002);
  } finally {
    await stopProcess(served.child);
  }
});

test("tenantUids with a data directory others cannot reach, or one forewarm does not own, is refused at start, naming it", {
  skip: needsRoot,
}, async () => {
  const mixed = mkdtempSync(join(parent, "mixed-"));
  writeFileSync(join(mixed, "payroll.csv"), "someone else's");
  await assert.rejects(serveProcess(mixed, ENV), (e: Error) =>
    e.message.includes("holds what forewarm did not put there (payroll.csv)"),
  );
  assert.equal(statSync(mixed).mode & 0o777, 0o700, "left as it was");
  const closed = mkdtempSync(join(parent, "closed-"));
  chmodSync(closed, 0o700);
  await assert.rejects(
    serveProcess(join(closed, "data"), ENV),
    (e: Error) =>
      e.message.includes("tenantUids") && e.message.includes(`${closed} (mode 0700) is not searchable`),
  );
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, type TestContext, test } from "node:test";
import { ProcessBackend } from "../../src/backends/process-backend.js";
import { keep } from "../../src/backends/tenant-runners.js";
import { claimUidRange, TenantUids, tenantUidProblem } from "../../src/backends/tenant-uids.js";
import { silentLogger } from "../../src/log/logger.js";
import { pidAlive, sleep, spec, tempDir, writeModules } from "./helpers.js";

/** /proc/<pid>/stat's start time, as claimUidRange records it. */
function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

/** Alive and not a zombie (this machine's init does not reap orphans at once). */
function running(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;
const needsRoot = isRoot ? false : "tenant uids need a server started as root";

// Tenants' runners must reach the modules and their scratch directories: a directory others can enter.
const dir = tempDir("forewarm-tenant-uids-");
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));
const mods = writeModules(dir, {
  // What a tenant's code can do to the server, another tenant's runner and their directories.
  "probe.mjs": `import fs from "node:fs";
const attempt = (f) => { try { f(); return "ok"; } catch (e) { return e.code; } };
export function fn(input) {
  return {
    uid: process.getuid(),
    gid: process.getgid(),
    groups: process.getgroups(),
    home: process.env.HOME,
    user: process.env.USER ?? null,
    signalServer: attempt(() => process.kill(input.serverPid, 0)),
    signalOther: attempt(() => process.kill(input.otherPid, 0)),
    listOther: attempt(() => fs.readdirSync(input.otherDir)),
    writeOwn: attempt(() => fs.writeFileSync("own.txt", "x")),
  };
}
`,
  "probe.py": "import os\ndef fn(_):\n    return {'uid': os.getuid(), 'home': os.environ.get('HOME')}\n",
});

/** A backend whose runners run as tenant uids from `first`, in its own work dir; closed after the test. */
function tenantBackend(
  t: TestContext,
  work: string,
  first: number,
  useCgroups: boolean | "auto" = false,
): ProcessBackend {
  const b = new ProcessBackend({
    logger: silentLogger(),
    workDir: join(dir, work),
    useCgroups,
    tenantUids: { first, count: 10 },
  });
  t.after(() => b.close());
  return b;
}

test("tenants get uids of their own in the order they first run, the same one again, none beyond the range", () => {
  const uids = new TenantUids({ first: 300_000, count: 2 });
  assert.equal(uids.uidFor("alice"), 300_000);
  assert.equal(uids.uidFor("bob"), 300_001);
  assert.equal(uids.uidFor("alice"), 300_000);
  assert.throws(() => uids.uidFor("carol"), /all 2 uids from 300000 are taken.*tenantUids\.count/);
  assert.equal(uids.size, 2);
});

test("a tenant keeps its uid across restarts (the map is kept in a file); a damaged map is refused, naming it", () => {
  const file = join(dir, "uids.json");
  const before = new TenantUids({ first: 300_000, count: 10, file });
  assert.equal(before.uidFor("alice"), 300_000);
  assert.equal(before.uidFor("bob"), 300_001);
  const after = new TenantUids({ first: 300_000, count: 10, file });
  assert.equal(after.uidFor("bob"), 300_001, "bob is not handed alice's uid because he comes first now");
  assert.equal(after.uidFor("carol"), 300_002);
  assert.equal(after.uidFor("alice"), 300_000);
  assert.throws(
    () => new TenantUids({ first: 400_000, count: 10, file }),
    /uids\.json: "alice" has uid 300000, outside 400000–400009/,
  );
  writeFileSync(file, "{nope");
  assert.throws(() => new TenantUids({ first: 300_000, count: 10, file }), /uids\.json: not JSON/);
});

test("a uid range that holds an existing user's, group's or subordinate id is refused, naming it", () => {
  const files = {
    passwd: join(dir, "passwd"),
    group: join(dir, "group"),
    subuid: join(dir, "subuid"),
    subgid: join(dir, "subgid"),
  };
  writeFileSync(files.passwd, "root:x:0:0:root:/root:/bin/bash\nsvc:x:300005:300005::/home/svc:/bin/sh\n");
  writeFileSync(files.group, "root:x:0:\nops:x:310000:\n");
  writeFileSync(files.subuid, "builder:400000:65536\n");
  writeFileSync(files.subgid, "");
  const problem = (first: number, count = 10) => tenantUidProblem({ first, count }, files);
  if (!isRoot) {
    assert.match(problem(300_000) ?? "", /not root/);
    return;
  }
  assert.match(problem(300_000) ?? "", /300000–300019 overlap the existing user svc \(300005/);
  assert.match(problem(309_995) ?? "", /overlap the existing group ops \(310000/);
  assert.match(problem(465_530) ?? "", /overlap the existing subordinate uids of builder \(400000–465535/);
  assert.match(problem(2_147_483_640) ?? "", /go past 2147483646/);
  assert.equal(problem(300_006), undefined);
});

test("the keeper empties a tenant's scratch directory with the tenant's rights, not root's", {
  skip: needsRoot,
}, async () => {
  const uid = 300_050;
  const keeper = 299_950;
  const scratch = join(dir, "scratch-rights");
  mkdirSync(join(scratch, "own"), { recursive: true });
  writeFileSync(join(scratch, "own", "a.txt"), "x");
  for (const p of [scratch, join(scratch, "own"), join(scratch, "own", "a.txt")]) chownSync(p, uid, uid);
  // Something only root may delete (what a symlink swapped in under root's walk would lead to).
  mkdirSync(join(scratch, "roots"));
  writeFileSync(join(scratch, "roots", "keep.txt"), "root's");
  symlinkSync(join(dir, "outside"), join(scratch, "link"));
  writeFileSync(join(dir, "outside"), "not the tenant's to delete");
  assert.equal(await keep("python3", "rm", keeper, uid, scratch), 1, "one entry (root's) could not go");
  assert.equal(existsSync(join(scratch, "own")), false);
  assert.equal(existsSync(join(scratch, "link")), false, "the link itself goes");
  assert.equal(existsSync(join(dir, "outside")), true, "not what it points to");
  assert.equal(existsSync(join(scratch, "roots", "keep.txt")), true);
});

test("the keeper empties a tree deeper than any stack or path", {
  skip: needsRoot,
  timeout: 120_000,
}, async () => {
  const uid = 300_060;
  const scratch = join(dir, "scratch-deep");
  mkdirSync(scratch);
  chownSync(scratch, uid, uid);
  // 3,000 levels (6,000 characters of path: more than PATH_MAX), built through directory descriptors.
  const build = [
    "import os, sys",
    "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)",
    "for i in range(3000):",
    "    os.mkdir('d', dir_fd=fd); os.chown('d', int(sys.argv[2]), int(sys.argv[2]), dir_fd=fd, follow_symlinks=False)",
    "    nfd = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd); os.close(fd); fd = nfd",
  ].join("\n");
  execFileSync("python3", ["-c", build, scratch, String(uid)]);
  assert.equal(await keep("python3", "rm", 299_960, uid, scratch), 0);
  assert.deepEqual(readdirSync(scratch), []);
  rmSync(scratch, { recursive: true });
});

for (const useCgroups of [false, "auto"] as const) {
  test(`each tenant's runners run as its own uid, apart from the server and the other tenants (cgroups ${useCgroups})`, {
    skip: needsRoot,
  }, async (t) => {
    const first = 300_100;
    const b = tenantBackend(t, `work-${useCgroups}`, first, useCgroups);
    const workDir = join(dir, `work-${useCgroups}`);
    const alice = await b.create("alice-1", "alice", spec("node"));
    const bob = await b.create("bob-1", "bob", spec("node"));
    const run = async (env: string, input: unknown) => {
      const r = await b.run(env, {
        taskId: `t-${env}`,
        modulePath: mods["probe.mjs"]!,
        fn: "fn",
        input,
        timeoutMs: 30_000,
      });
      assert.equal(r.ok, true, r.error);
      return r.output as Record<string, unknown>;
    };
    // Bob's scratch directory: the work dir's entry named after his environment.
    const bobScratch = join(workDir, readdirSync(workDir).find((n) => n.startsWith("bob-1-"))!);
    const a = await run(alice.id, { serverPid: process.pid, otherPid: bob.pid, otherDir: bobScratch });
    assert.equal(a.uid, first);
    assert.equal(a.gid, first);
    assert.deepEqual(a.groups, [first]);
    assert.equal(a.user, null);
    assert.match(String(a.home), /alice-1-/);
    assert.equal(a.signalServer, "EPERM");
    assert.equal(a.signalOther, "EPERM");
    assert.equal(a.listOther, "EACCES");
    assert.equal(a.writeOwn, "ok");
    const o = await run(bob.id, { serverPid: process.pid, otherPid: alice.pid, otherDir: bobScratch });
    assert.equal(o.uid, first + 1);
    assert.equal(o.listOther, "ok", "bob lists his own directory");
    // A second environment of alice's is hers too, and so is a Python one (resolved as she sees PATH).
    const again = await b.create("alice-2", "alice", spec("node"));
    assert.equal(
      (await run(again.id, { serverPid: process.pid, otherPid: bob.pid, otherDir: bobScratch })).uid,
      first,
    );
    const py = await b.create("alice-py", "alice", spec("python3"));
    const p = await b.run(py.id, {
      taskId: "t-py",
      modulePath: mods["probe.py"]!,
      fn: "fn",
      input: null,
      timeoutMs: 30_000,
    });
    assert.equal(p.ok, true, p.error);
    assert.equal((p.output as { uid: number }).uid, first);
  });
}

test("what a tenant's task leaves running outside its runner is killed once the tenant has no environment left", {
  skip: needsRoot,
}, async (t) => {
  const first = 300_200;
  const b = tenantBackend(t, "work-escape", first);
  const leaver = join(dir, "leaver.mjs");
  writeFileSync(
    leaver,
    `import { spawn } from "node:child_process";
export function fn() {
  // Its own session: not in the runner's process group, so not killed with the runner.
  const c = spawn("sleep", ["600"], { detached: true, stdio: "ignore" });
  c.unref();
  return { pid: c.pid };
}
`,
  );
  const left = async (env: string) => {
    const r = await b.run(env, {
      taskId: `t-${env}`,
      modulePath: leaver,
      fn: "fn",
      input: null,
      timeoutMs: 30_000,
    });
    assert.equal(r.ok, true, r.error);
    return (r.output as { pid: number }).pid;
  };
  const a1 = await b.create("alice-1", "alice", spec("node"));
  const a2 = await b.create("alice-2", "alice", spec("node"));
  const bob = await b.create("bob-1", "bob", spec("node"));
  const alicePid = await left(a1.id);
  const bobPid = await left(bob.id);
  await b.destroy(a1.id);
  assert.ok(running(alicePid), "alice still has an environment: her processes stay");
  await b.destroy(a2.id);
  for (let i = 0; i < 50 && running(alicePid); i++) await sleep(20);
  assert.equal(running(alicePid), false, "alice has none left: what she left running is gone");
  assert.ok(running(bobPid), "bob's is not touched");
  assert.deepEqual(
    readdirSync(join(dir, "work-escape")).filter((n) => n.startsWith("alice")),
    [],
    "her scratch directories are gone",
  );
  await b.destroy(bob.id);
  for (let i = 0; i < 50 && running(bobPid); i++) await sleep(20);
  assert.equal(running(bobPid), false);
});

test("runners a tenant uid cannot read are refused when the backend starts, naming them", {
  skip: needsRoot,
}, () => {
  const closed = join(dir, "closed-runners");
  mkdirSync(closed, { mode: 0o700 });
  for (const f of ["node-runner.mjs", "python-runner.py"]) writeFileSync(join(closed, f), "");
  assert.throws(
    () =>
      new ProcessBackend({
        logger: silentLogger(),
        workDir: join(dir, "work-closed"),
        useCgroups: false,
        runnersDir: closed,
        tenantUids: { first: 300_300, count: 1 },
      }),
    (e: Error) =>
      e.message.includes("a runner cannot start as uid 300300") &&
      e.message.includes(join(closed, "node-runner.mjs")),
  );
});

test("a uid range another live process claims on this host is refused; a dead one's claim is void", () => {
  const claims = join(dir, "claims");
  const release = claimUidRange({ first: 500_000, count: 100 }, claims);
  // Another server's claim: a live process (this test's parent, with its start time) and a gone one.
  const parentClaim = `600000-600099.${process.ppid}.${startTimeOf(process.ppid)}`;
  writeFileSync(join(claims, parentClaim), "");
  writeFileSync(join(claims, `700000-700099.${process.ppid}.1`), "");
  assert.throws(
    () => claimUidRange({ first: 600_050, count: 100 }, claims),
    new RegExp(`overlap 600000–600099, which process ${process.ppid}`),
  );
  const again = claimUidRange({ first: 700_000, count: 100 }, claims);
  assert.equal(
    existsSync(join(claims, `700000-700099.${process.ppid}.1`)),
    false,
    "a reused pid's claim is cleared",
  );
  release();
  again();
  assert.deepEqual(readdirSync(claims), [parentClaim]);
});

test("a tenant's process that stops every process it may signal does not stop the clean-up after it", {
  skip: needsRoot,
  timeout: 60_000,
}, async (t) => {
  const b = tenantBackend(t, "work-stopper", 300_400);
  const stopper = join(dir, "stopper.mjs");
  writeFileSync(
    stopper,
    `import { spawn } from "node:child_process";
export function fn() {
  // Its own session, then SIGSTOP to everything its uid may signal, over and over.
  const code = "setTimeout(() => { for (;;) { try { process.kill(-1, 'SIGSTOP'); } catch {} } }, 200)";
  const c = spawn(process.execPath, ["-e", code], { detached: true, stdio: "ignore" });
  c.unref();
  return { pid: c.pid };
}
`,
  );
  await b.create("stopper-1", "mallory", spec("node"));
  const r = await b.run("stopper-1", {
    taskId: "t-stop",
    modulePath: stopper,
    fn: "fn",
    input: null,
    timeoutMs: 30_000,
  });
  assert.equal(r.ok, true, r.error);
  const pid = (r.output as { pid: number }).pid;
  await sleep(600);
  await b.destroy("stopper-1");
  for (let i = 0; i < 50 && running(pid); i++) await sleep(20);
  assert.equal(running(pid), false, "the stopper was killed");
  assert.deepEqual(readdirSync(join(dir, "work-stopper")), [], "and the scratch directory removed");
});

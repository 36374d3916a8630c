import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { forewarm } from "../cli/cli-process.js";
import { eventually, startHarness } from "./harness.js";
import { call, issue, refusedStart, tokensDir } from "./token-calls.js";

describe("a tokens file that cannot be used stops the start, naming it", () => {
  const cases: [string, string, number, RegExp][] = [
    ["not JSON", "{", 0o600, /not JSON/],
    [
      "a malformed hash",
      '{"tokens":[{"name":"a","role":"tenant","user":"a","sha256":"abc"}]}',
      0o600,
      /tokens\[0\]\.sha256/,
    ],
    [
      "a tenant token without a user",
      `{"tokens":[{"name":"a","role":"tenant","sha256":"${"a".repeat(64)}"}]}`,
      0o600,
      /tokens\[0\]\.user: a tenant token names the user/,
    ],
    [
      "two tokens of one name",
      `{"tokens":[{"name":"a","role":"operator","sha256":"${"a".repeat(64)}"},{"name":"a","role":"metrics","sha256":"${"b".repeat(64)}"}]}`,
      0o600,
      /tokens\[1\]\.name: 'a' is used by an earlier token/,
    ],
    ["a file others may write", '{"tokens":[]}', 0o666, /group or others may write it.*chmod go-w/],
  ];
  for (const [what, text, mode, message] of cases)
    test(what, async () => {
      const file = path.join(tokensDir(), "tokens.json");
      fs.writeFileSync(file, text);
      fs.chmodSync(file, mode);
      await assert.rejects(refusedStart(file), (e: Error) => {
        assert.match(e.message, /auth\.tokensFile/);
        assert.match(e.message, message);
        return true;
      });
    });
  test("a file another user owns, or in a directory others may write", async () => {
    const dir = tokensDir();
    const file = path.join(dir, "tokens.json");
    fs.writeFileSync(file, '{"tokens":[]}', { mode: 0o600 });
    fs.chownSync(file, 65534, 65534);
    await assert.rejects(refusedStart(file), /owned by uid 65534/);
    fs.chownSync(file, process.getuid!(), process.getgid!());
    fs.chmodSync(dir, 0o777);
    await assert.rejects(refusedStart(file), /directory .* may be changed by group or others/);
    // Sticky (like /tmp): others cannot replace what is ours there.
    fs.chmodSync(dir, 0o1777);
    const h = await startHarness({ auth: { tokensFile: file } });
    await h.server.close();
  });
  test("a path through a symlink that sits in a directory others may write", async () => {
    const safe = tokensDir();
    fs.writeFileSync(path.join(safe, "tokens.json"), '{"tokens":[]}', { mode: 0o600 });
    const open = tokensDir();
    fs.chmodSync(open, 0o777);
    fs.symlinkSync(safe, path.join(open, "conf"));
    // Whoever may write `open` could point `conf` at a tokens file of their own after the check.
    await assert.rejects(
      refusedStart(path.join(open, "conf", "tokens.json")),
      new RegExp(`directory ${open} may be changed by group or others`),
    );
    const r = await forewarm([
      "token",
      "new",
      "--file",
      path.join(open, "conf", "tokens.json"),
      "--user",
      "x",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a server would refuse this tokens file/);
    assert.equal(fs.readFileSync(path.join(safe, "tokens.json"), "utf8"), '{"tokens":[]}', "nothing written");
  });
  test("in a sticky directory others may write: a name others could create, or an entry they own", async () => {
    const shared = tokensDir();
    fs.chmodSync(shared, 0o1777);
    // Missing: anyone could create it (or a pipe, or a symlink) before the command writes it.
    const r = await forewarm([
      "token",
      "new",
      "--file",
      path.join(shared, "tokens.json"),
      "--role",
      "operator",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tokens\.json does not exist in .*, where others may create entries/);
    assert.ok(!fs.existsSync(path.join(shared, "tokens.json")));
    // A symlink another user made there, even to a file root owns, chooses which tokens file is read.
    const real = path.join(tokensDir(), "tokens.json");
    fs.writeFileSync(real, '{"tokens":[]}', { mode: 0o600 });
    const link = path.join(shared, "current.json");
    fs.symlinkSync(real, link);
    fs.lchownSync(link, 65534, 65534);
    await assert.rejects(
      refusedStart(link),
      /current\.json is owned by uid 65534 in .*, where others may create entries/,
    );
  });
  test("a file inside the data directory (whose content forewarm manages)", async () => {
    const dataDir = tokensDir();
    fs.mkdirSync(path.join(dataDir, "envs"));
    const file = path.join(dataDir, "envs", "tokens.json");
    fs.writeFileSync(file, '{"tokens":[]}', { mode: 0o600 });
    await assert.rejects(
      refusedStart(file, { dataDir }),
      /config auth\.tokensFile: .*tokens\.json is inside dataDir .*; keep it elsewhere/,
    );
    assert.ok(fs.existsSync(file));
  });
  test("a file that does not exist", async () => {
    const file = path.join(tokensDir(), "missing.json");
    await assert.rejects(refusedStart(file), /auth\.tokensFile.*missing\.json: does not exist/);
  });
});

test("forewarm token new refuses what the server would not take, naming the option, and writes nothing", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  await issue(file, "--user", "erin", "--name", "erin-ci");
  const before = fs.readFileSync(file, "utf8");
  for (const [args, message] of [
    [["--user", "has space"], /--user 'has space'/],
    [["--user", "erin", "--name", "erin-ci"], /--name: a token named 'erin-ci' exists/],
    [["--role", "tenant"], /a tenant token needs --user/],
    [["--role", "operator", "--user", "erin"], /--user is for tenant tokens/],
    [["--role", "root"], /--role must be one of tenant, operator, metrics/],
    [[], /give --user <tenant>/],
  ] as const) {
    const r = await forewarm(["token", "new", "--file", file, ...args]);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "", "no token printed");
  }
  assert.equal(fs.readFileSync(file, "utf8"), before);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test("token commands run at once do not undo each other (the file is changed under a lock)", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  await issue(file, "--user", "victim");
  const runs = [
    forewarm(["token", "revoke", "victim", "--file", file]),
    ...Array.from({ length: 7 }, (_, i) => forewarm(["token", "new", "--file", file, "--user", `u${i}`])),
  ];
  for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stderr);
  const names = (await forewarm(["token", "list", "--file", file])).stdout
    .trim()
    .split("\n")
    .map((l) => l.split("\t")[0])
    .sort();
  assert.deepEqual(names, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
  assert.ok(!fs.existsSync(`${file}.lock`), "the lock is let go");
});

test("a tokens file reached through a symlink in trusted directories is served, and token commands write its target", async () => {
  const real = path.join(tokensDir(), "tokens.json");
  const operator = await issue(real, "--role", "operator");
  const linkDir = tokensDir();
  const link = path.join(linkDir, "current.json");
  fs.symlinkSync(real, link);
  const h = await startHarness({ auth: { tokensFile: link } });
  try {
    assert.equal((await call(h, "/v1/tasks", operator)).status, 200);
    const fred = await issue(link, "--user", "fred");
    assert.ok(fs.lstatSync(link).isSymbolicLink(), "the symlink stays a symlink");
    await eventually(
      async () => ((await call(h, "/v1/tasks", fred)).status === 200 ? true : undefined),
      100,
      100,
    );
  } finally {
    await h.server.close();
  }
});

test("'..' after a symlink is the parent of its target, as the kernel resolves it", async () => {
  const root = tokensDir();
  fs.mkdirSync(path.join(root, "real", "sub"), { recursive: true });
  fs.mkdirSync(path.join(root, "etc"));
  fs.symlinkSync(path.join(root, "real", "sub"), path.join(root, "etc", "cur"));
  const odd = `${root}/etc/cur/../tokens.json`; // not path.join, which would drop `cur/..`
  // `cat` and the server must mean the same file: root/real/tokens.json, not root/etc/tokens.json.
  fs.writeFileSync(path.join(root, "etc", "tokens.json"), '{"tokens":[]}', { mode: 0o600 });
  const operator = await issue(odd, "--role", "operator");
  assert.ok(fs.readFileSync(path.join(root, "real", "tokens.json"), "utf8").includes('"operator"'));
  const h = await startHarness({ auth: { tokensFile: odd } });
  try {
    assert.equal((await call(h, "/v1/tasks", operator)).status, 200);
  } finally {
    await h.server.close();
  }
});

test("a token command run by root keeps the file's owner (the server that reads it must still be able to)", async () => {
  const dir = tokensDir();
  const file = path.join(dir, "tokens.json");
  await issue(file, "--user", "gina");
  await issue(file, "--user", "hank");
  fs.chownSync(file, 65534, 65534);
  assert.equal((await forewarm(["token", "revoke", "gina", "--file", file])).code, 0);
  const s = fs.statSync(file);
  assert.deepEqual([s.uid, s.gid, s.mode & 0o777], [65534, 65534, 0o600]);
  // Read by the service through its group: that stays so.
  fs.chownSync(file, 0, 65534);
  fs.chmodSync(file, 0o640);
  assert.equal((await issue(file, "--user", "gina")).length > 0, true);
  const g = fs.statSync(file);
  assert.deepEqual([g.uid, g.gid, g.mode & 0o777], [0, 65534, 0o640]);
  assert.equal((await forewarm(["token", "list", "--file", file])).stdout.split("\t")[0], "hank");
});

test("a lock left by a command that died is reported, not taken over", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  await issue(file, "--user", "ivy");
  const before = fs.readFileSync(file, "utf8");
  const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  fs.writeFileSync(`${file}.lock`, gone.stdout);
  const r = await forewarm(["token", "revoke", "ivy", "--file", file]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`tokens\\.json\\.lock is held by process ${gone.stdout}, which is no longer running`),
  );
  assert.equal(fs.readFileSync(file, "utf8"), before);
});

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { forewarm, submitArgs } from "../cli/cli-process.js";
import { eventually, type Harness, startHarness, writeTask } from "./harness.js";

type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

/** A call with `token` as its bearer (none: no Authorization header). */
async function call(h: Harness, url: string, token?: string, init: RequestInit = {}): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
  const res = await fetch(`${h.server.url}${url}`, { ...init, headers });
  const text = await res.text();
  // HEAD answers carry GET's headers without a body.
  const body =
    text !== "" && res.headers.get("content-type")?.startsWith("application/json")
      ? (JSON.parse(text) as Record<string, unknown>)
      : { text };
  return { status: res.status, body, headers: res.headers };
}

const submit = (h: Harness, token: string | undefined, user: string, query = "?wait=true") =>
  call(h, `/v1/tasks${query}`, token, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, runtime: "node", entry: "echo.mjs", input: user }),
  });

/** A token issued with the CLI (`forewarm token new`), as an operator would. */
async function issue(file: string, ...args: string[]): Promise<string> {
  const r = await forewarm(["token", "new", "--file", file, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^fw_[A-Za-z0-9_-]{43}$/);
  return token;
}

/** A start that should be refused; if it is not, the server is closed (not left holding the test run open). */
async function refusedStart(tokensFile: string, config: Record<string, unknown> = {}): Promise<void> {
  const h = await startHarness({ ...config, auth: { tokensFile } });
  await h.server.close();
  throw new assert.AssertionError({ message: `the server started on ${tokensFile}` });
}

const tokensDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "fw-tokens-"));

describe("a server with API tokens", () => {
  let h: Harness;
  let file: string;
  const t: Record<string, string> = {};
  before(async () => {
    file = path.join(tokensDir(), "tokens.json");
    t.alice = await issue(file, "--user", "alice");
    t.bob = await issue(file, "--user", "bob");
    t.operator = await issue(file, "--role", "operator");
    t.metrics = await issue(file, "--role", "metrics", "--name", "prometheus");
    h = await startHarness({ auth: { tokensFile: file } });
    writeTask(h.tasksDir, "echo.mjs", "export const handler = (x) => x;\n");
  });
  after(async () => {
    await h.server.close();
  });

  test("answers 401 without a known bearer token on every route but /healthz, and records nothing", async () => {
    for (const [url, init] of [
      ["/v1/tasks", {}],
      ["/v1/plan", {}],
      ["/metrics", {}],
      ["/v1/nothing-here", {}],
      [
        "/v1/tasks?wait=true",
        { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
      ],
    ] as const) {
      for (const token of [undefined, "fw_not-a-token", ""]) {
        const r = await call(h, url, token, init);
        assert.equal(r.status, 401, `${url} with ${token ?? "no"} token`);
        assert.equal(r.body.error, "unauthorized");
        assert.equal(r.body.field, "authorization");
        assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
      }
    }
    // HEAD is GET without a body, with GET's rights (a HEAD probe of /healthz is open too).
    assert.equal((await call(h, "/healthz", undefined, { method: "HEAD" })).status, 200);
    assert.equal((await call(h, "/v1/tasks", undefined, { method: "HEAD" })).status, 401);
    assert.equal((await call(h, "/v1/tasks", t.alice, { method: "HEAD" })).status, 200);
    assert.equal((await call(h, "/v1/plan", t.alice, { method: "HEAD" })).status, 403);
    // An unknown route is a 404 to a caller with a token (not "operator tokens only", which would say it exists).
    assert.equal((await call(h, "/v1/nothing-here", t.alice)).status, 404);
    const bare = await call(h, "/v1/tasks");
    assert.match(String(bare.body.message), /Authorization: Bearer/);
    const wrong = await call(h, "/v1/tasks", "fw_not-a-token");
    assert.match(String(wrong.body.message), /unknown API token/);
    const malformed = await call(h, "/v1/tasks", undefined, {
      headers: { authorization: `Basic ${t.alice}` },
    });
    assert.equal(malformed.status, 401);
    assert.match(String(malformed.body.message), /malformed/);
    assert.equal((await call(h, "/healthz")).status, 200);
    assert.equal(h.server.orchestrator.counters.coldStarts, 0, "no unauthenticated task ran");
  });

  test("a tenant's token submits and sees its own tenant's work only", async () => {
    const mine = await submit(h, t.alice!, "alice");
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.equal(mine.body.output, "alice");
    const bobs = await submit(h, t.bob!, "bob");
    assert.equal(bobs.status, 200);

    // Submitting as another tenant: refused naming the field, before anything is queued.
    const before = (await call(h, "/v1/tasks?limit=10000", t.operator)).body.tasks as unknown[];
    const spoof = await submit(h, t.alice!, "bob");
    assert.equal(spoof.status, 403);
    assert.deepEqual([spoof.body.error, spoof.body.field], ["forbidden", "user"]);
    const after = (await call(h, "/v1/tasks?limit=10000", t.operator)).body.tasks as unknown[];
    assert.equal(after.length, before.length);

    // Another tenant's task reads as no task at all; listing shows one's own, and asking for another's is refused.
    const other = await call(h, `/v1/tasks/${String(bobs.body.id)}`, t.alice);
    const unknown = await call(h, "/v1/tasks/00000000-0000-0000-0000-000000000000", t.alice);
    assert.equal(other.status, 404);
    assert.equal(unknown.status, 404);
    assert.equal(
      String(other.body.message).replace(String(bobs.body.id), "ID"),
      String(unknown.body.message).replace("00000000-0000-0000-0000-000000000000", "ID"),
    );
    assert.equal((await call(h, `/v1/tasks/${String(mine.body.id)}`, t.alice)).status, 200);
    const listed = (await call(h, "/v1/tasks", t.alice)).body.tasks as { user: string }[];
    assert.deepEqual([...new Set(listed.map((x) => x.user))], ["alice"]);
    for (const url of ["/v1/tasks?user=bob", "/v1/forecasts?user=bob", "/v1/decisions?user=bob"]) {
      const r = await call(h, url, t.alice);
      assert.equal(r.status, 403, url);
      assert.equal(r.body.field, "user", url);
    }
    const envs = (await call(h, "/v1/environments", t.alice)).body.environments as { user: string }[];
    assert.ok(envs.length >= 1);
    assert.deepEqual([...new Set(envs.map((e) => e.user))], ["alice"]);
    const all = (await call(h, "/v1/environments", t.operator)).body.environments as { user: string }[];
    assert.deepEqual([...new Set(all.map((e) => e.user))].sort(), ["alice", "bob"]);

    // Operator routes are closed to tenants; the operator reads them all and may submit for anyone.
    for (const url of ["/v1/plan", "/v1/cluster", "/metrics"]) {
      const r = await call(h, url, t.alice);
      assert.equal(r.status, 403, url);
      assert.match(String(r.body.message), /operator tokens only/);
      assert.equal((await call(h, url, t.operator)).status, 200, url);
    }
    assert.equal((await submit(h, t.operator!, "carol")).status, 200);
  });

  test("refusals are counted by reason in forewarm_api_denied_total", async () => {
    const denied = async () => {
      const text = String((await call(h, "/metrics", t.metrics)).body.text);
      const count = (reason: string) =>
        Number(
          new RegExp(`^forewarm_api_denied_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0,
        );
      return { missing: count("missing"), unknown: count("unknown"), forbidden: count("forbidden") };
    };
    const before = await denied();
    await call(h, "/v1/tasks");
    await call(h, "/v1/tasks", undefined, { headers: { authorization: "Basic x" } });
    await call(h, "/v1/tasks", "fw_nobody");
    await call(h, "/v1/plan", t.alice);
    await call(h, "/v1/tasks", t.metrics);
    assert.equal((await call(h, "/v1/tasks", t.alice)).status, 200);
    const after = await denied();
    assert.deepEqual(
      {
        missing: after.missing - before.missing,
        unknown: after.unknown - before.unknown,
        forbidden: after.forbidden - before.forbidden,
      },
      { missing: 2, unknown: 1, forbidden: 2 },
    );
  });

  test("a metrics token reads /metrics and nothing else", async () => {
    const m = await call(h, "/metrics", t.metrics);
    assert.equal(m.status, 200);
    assert.match(String(m.body.text), /forewarm_cold_starts_total/);
    for (const url of ["/v1/tasks", "/v1/environments", "/v1/plan"]) {
      const r = await call(h, url, t.metrics);
      assert.equal(r.status, 403, url);
      assert.match(String(r.body.message), /metrics token 'prometheus'/);
    }
    assert.equal((await submit(h, t.metrics, "alice")).status, 403);
  });

  test("the CLI sends its token from --token or FOREWARM_TOKEN, and says why without one", async () => {
    const args = submitArgs(h.server.url);
    const userAt = args.indexOf("-u") + 1;
    args[userAt] = "alice";
    const viaEnv = await forewarm(args, { FOREWARM_TOKEN: t.alice! });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(JSON.parse(viaEnv.stdout).status, "succeeded");
    const viaFlag = await forewarm([...args, "--token", t.alice!]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    const garbled = await forewarm(args, { FOREWARM_TOKEN: "fw_a\u0001b" });
    assert.equal(garbled.code, 1);
    assert.match(garbled.stderr, /FOREWARM_TOKEN: not a token/);
    const none = await forewarm(args, { FOREWARM_TOKEN: "" });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /401 Unauthorized: authorization: this server requires an API token/);
    const status = await forewarm(["status", "--url", h.server.url], { FOREWARM_TOKEN: t.operator! });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /ENVIRONMENT/);
  });
});

describe("tokens change while the server runs", () => {
  test("tokens issued and revoked with the CLI take effect without a restart; a broken file keeps the last good tokens", async () => {
    const file = path.join(tokensDir(), "tokens.json");
    const operator = await issue(file, "--role", "operator");
    const h = await startHarness({ auth: { tokensFile: file } });
    try {
      writeTask(h.tasksDir, "echo.mjs", "export const handler = (x) => x;\n");
      const dave = await issue(file, "--user", "dave");
      await eventually(
        async () => ((await submit(h, dave, "dave")).status === 200 ? true : undefined),
        100,
        100,
      );

      const listed = await forewarm(["token", "list", "--file", file]);
      assert.deepEqual(
        listed.stdout
          .trim()
          .split("\n")
          .map((l) => l.split("\t").slice(0, 3).join(" ")),
        ["operator operator -", "dave tenant dave"],
      );
      assert.ok(!listed.stdout.includes(dave), "the token itself is never listed");
      assert.ok(!fs.readFileSync(file, "utf8").includes(dave), "the file holds hashes, not tokens");

      assert.equal((await forewarm(["token", "revoke", "dave", "--file", file])).code, 0);
      await eventually(
        async () => ((await call(h, "/v1/tasks", dave)).status === 401 ? true : undefined),
        100,
        100,
      );
      assert.equal((await call(h, "/v1/tasks", operator)).status, 200, "the other token still works");

      // A hand edit gone wrong: the server keeps what it had (and logs it) instead of locking everyone out or letting anyone in.
      fs.writeFileSync(file, '{"tokens": [', { mode: 0o600 });
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await call(h, "/v1/tasks", operator)).status, 200);
      assert.equal((await call(h, "/v1/tasks", dave)).status, 401);
    } finally {
      await h.server.close();
    }
  });
});

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

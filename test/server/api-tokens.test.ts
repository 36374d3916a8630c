import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { forewarm, submitArgs } from "../cli/cli-process.js";
import { eventually, type Harness, startHarness, writeTask } from "./harness.js";
import { call, issue, submit, tokensDir } from "./token-calls.js";

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

  test("/healthz answers any probe, but tells only operators the host, data directory and load", async () => {
    const probe = { ok: true, clusterMember: true };
    for (const token of [undefined, "fw_not-a-token", t.alice, t.metrics]) {
      const r = await call(h, "/healthz", token);
      assert.equal(r.status, 200, `${token ?? "no"} token`);
      assert.deepEqual(r.body, probe, `${token ?? "no"} token`);
    }
    const full = await call(h, "/healthz", t.operator);
    assert.equal(full.body.serverId, h.server.serverId);
    assert.equal(full.body.queueLength, 0);
    assert.equal(full.body.ok, true);
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
    // A tenant's token: refused for what it may not see, said as such (not a schema error of /healthz).
    const asTenant = await forewarm(["status", "--url", h.server.url], { FOREWARM_TOKEN: t.alice! });
    assert.notEqual(asTenant.code, 0);
    assert.match(asTenant.stderr, /\/v1\/plan answered 403 Forbidden: .*operator tokens only/);
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

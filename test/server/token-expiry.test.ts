import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { readTokenFile, writeTokenFile } from "../../src/auth/token-file.js";
import { expiryOption } from "../../src/cli/token.js";
import { forewarm } from "../cli/cli-process.js";
import { eventually, type Harness, startHarness, writeTask } from "./harness.js";
import { call, issue, refusedStart, submit, tokensDir } from "./token-calls.js";

const deniedExpired = async (h: Harness): Promise<number> =>
  Number(
    /^forewarm_api_denied_total\{reason="expired"\} (\d+)$/m.exec(await h.server.metrics.render())?.[1] ?? 0,
  );

test("a token is refused from its expiry on (401, counted as expired) with no change to the file; others go on", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  const lasting = await issue(file, "--user", "alice", "--expires", "30d");
  const brief = await issue(file, "--user", "bob", "--name", "bob-brief");
  // A lifetime under the CLI's minute: written as the CLI would, ~1.5 s ahead.
  const content = readTokenFile(file);
  const soon = new Date(Date.now() + 1500).toISOString();
  writeTokenFile(file, {
    tokens: content.tokens.map((t) => (t.name === "bob-brief" ? { ...t, expires: soon } : t)),
  });
  const h = await startHarness({ auth: { tokensFile: file } });
  try {
    writeTask(h.tasksDir, "echo.mjs", "export const handler = (x) => x;\n");
    assert.equal((await submit(h, lasting, "alice")).status, 200);
    // Refused once its instant passes: nothing about the file changed, the clock did.
    const refused = await eventually(
      async () => {
        const r = await call(h, "/v1/tasks", brief);
        return r.status === 401 ? r : undefined;
      },
      100,
      100,
    );
    assert.equal(refused.body.error, "unauthorized");
    assert.match(
      String(refused.body.message),
      new RegExp(`token 'bob-brief' expired at ${soon.replace(/\./g, "\\.")}`),
    );
    assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="forewarm"');
    assert.ok((await deniedExpired(h)) >= 1);
    assert.equal((await submit(h, lasting, "alice")).status, 200, "the other token still works");

    const listed = (await forewarm(["token", "list", "--file", file])).stdout.trim().split("\n");
    const row = (name: string) => listed.find((l) => l.startsWith(`${name}\t`))!.split("\t");
    assert.equal(row("bob-brief")[4], `${soon} EXPIRED`);
    const aliceExpires = Date.parse(row("alice")[4]!);
    assert.ok(Math.abs(aliceExpires - (Date.now() + 30 * 86_400_000)) < 3_600_000, row("alice")[4]);
  } finally {
    await h.server.close();
  }
});

test("an expiry the file cannot mean one instant by is refused naming the field", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  await issue(file, "--user", "carol");
  const content = readTokenFile(file);
  // Date.parse takes these, each as a different instant on another machine or in another year.
  for (const bad of ["2027", "Jan 1 2027", "2027-01-31T00:00:00", "2027-02-30T00:00:00Z"]) {
    fs.writeFileSync(file, JSON.stringify({ tokens: [{ ...content.tokens[0], expires: bad }] }), {
      mode: 0o600,
    });
    await assert.rejects(refusedStart(file), (e: { field?: string; message: string }) => {
      assert.equal(e.field, "auth.tokensFile");
      assert.match(e.message, /tokens\[0\]\.expires: .* not an ISO 8601 date-time with a time zone/);
      return true;
    });
  }
});

test("token new --expires takes a lifetime or a date in the future and refuses anything else, writing nothing", async () => {
  const now = Date.parse("2026-11-30T12:00:00Z");
  assert.equal(expiryOption("90m", now), "2026-11-30T13:30:00.000Z");
  assert.equal(expiryOption("12h", now), "2026-12-01T00:00:00.000Z");
  assert.equal(expiryOption("30d", now), "2026-12-30T12:00:00.000Z");
  assert.equal(expiryOption("2w", now), "2026-12-14T12:00:00.000Z");
  assert.equal(expiryOption("2027-01-31", now), "2027-01-31T00:00:00.000Z");
  assert.equal(expiryOption("2026-12-01T08:00:00+02:00", now), "2026-12-01T06:00:00.000Z");
  assert.throws(() => expiryOption("2026-11-30", now), /has passed/);
  assert.throws(() => expiryOption("0d", now), /has passed/);
  for (const bad of ["tomorrow", "30", "1y", "2027-02-30", "99999999999999d", "600000w"])
    assert.throws(() => expiryOption(bad, now), /--expires/);

  const file = path.join(tokensDir(), "tokens.json");
  const refused = await forewarm(["token", "new", "--file", file, "--user", "dan", "--expires", "yesterday"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /--expires 'yesterday': a lifetime/);
  assert.ok(!fs.existsSync(file), "nothing written");
});

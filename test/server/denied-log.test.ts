import assert from "node:assert/strict";
import path from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { pino } from "pino";
import { ConfigError, parseConfig } from "../../src/config/config.js";
import { DeniedLog, OTHER_ADDRESSES } from "../../src/server/denied-log.js";
import { startHarness } from "./harness.js";
import { call, issue, tokensDir } from "./token-calls.js";

/** A logger whose lines (parsed) land in `lines`. */
function capturing(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const flushed = () => new Promise((r) => setImmediate(r));

/** A DeniedLog on a clock the test moves (`at`), without its timer; its lines once written. */
function logOnFakeClock(maxKeys: number) {
  const { logger, lines } = capturing();
  const clock = { now: 0 };
  const log = new DeniedLog(logger, 60_000, () => clock.now, maxKeys, false);
  const denied = async () => {
    await flushed();
    return lines.filter((l) => l.event === "api_denied");
  };
  return { log, clock, denied };
}

test("refusals are logged once per reason and address, then at most once a minute with the count between", async () => {
  const { log, clock, denied: written } = logOnFakeClock(10_000);
  const d = { reason: "unknown", ip: "10.0.0.5", method: "GET", path: "/v1/tasks" } as const;
  for (let i = 0; i < 5; i++) log.note(d);
  log.note({ ...d, ip: "10.0.0.6" });
  log.note({ ...d, reason: "forbidden", token: "alice" });
  clock.now = 59_999;
  log.note(d);
  clock.now = 60_000;
  log.note(d);
  const denied = await written();
  assert.deepEqual(
    denied.map((l) => [l.reason, l.ip, l.suppressed ?? 0, l.token ?? null]),
    [
      ["unknown", "10.0.0.5", 0, null],
      ["unknown", "10.0.0.6", 0, null],
      ["forbidden", "10.0.0.5", 0, "alice"],
      ["unknown", "10.0.0.5", 5, null],
    ],
  );
  assert.match(String(denied[3]!.msg), /5 more refused for this reason from there/);
});

test("a burst that stops is still counted in the log; past the address limit new addresses share one entry", async () => {
  const { log, clock, denied: written } = logOnFakeClock(3);
  const d = { reason: "unknown", ip: "203.0.113.9", method: "GET", path: "/v1/tasks" } as const;
  for (let i = 0; i < 100; i++) log.note(d);
  clock.now = 30_000;
  log.sweep();
  clock.now = 60_000;
  log.sweep();
  // Many addresses at once: three get their own entry, the rest one shared entry.
  for (let k = 0; k < 50; k++) log.note({ ...d, ip: `2001:db8::${k}` });
  clock.now = 120_000;
  log.sweep();
  const denied = await written();
  assert.deepEqual(
    denied.map((l) => [l.ip, l.suppressed ?? 0]),
    [
      ["203.0.113.9", 0],
      ["203.0.113.9", 99],
      ["2001:db8::0", 0],
      ["2001:db8::1", 0],
      ["2001:db8::2", 0],
      [OTHER_ADDRESSES, 0],
      [OTHER_ADDRESSES, 46],
    ],
  );
  assert.match(
    String(denied[1]!.msg),
    /^99 API requests refused \(unknown\) from 203\.0\.113\.9 in the last minute/,
  );
});

test("a server with tokens logs where refused requests come from, never the token sent", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  const alice = await issue(file, "--user", "alice");
  const { logger, lines } = capturing();
  const h = await startHarness({ auth: { tokensFile: file } }, { logger });
  try {
    const guess = "fw_guessing-a-token-value";
    for (let i = 0; i < 3; i++) assert.equal((await call(h, "/v1/tasks", guess)).status, 401);
    assert.equal((await call(h, "/v1/plan", alice)).status, 403);
    await flushed();
    const denied = lines.filter((l) => l.event === "api_denied");
    assert.deepEqual(
      denied.map((l) => [l.reason, l.method, l.path, l.token ?? null]),
      [
        ["unknown", "GET", "/v1/tasks", null],
        ["forbidden", "GET", "/v1/plan", "alice"],
      ],
    );
    assert.ok(
      denied.every((l) => l.ip === "127.0.0.1" || l.ip === "::ffff:127.0.0.1"),
      JSON.stringify(denied),
    );
    const all = JSON.stringify(lines);
    assert.ok(!all.includes(guess) && !all.includes(alice), "no token in the log");
  } finally {
    await h.server.close();
  }
});

test("behind a proxy listed in trustedProxies the log names the client it forwards; the setting is checked", async () => {
  const file = path.join(tokensDir(), "tokens.json");
  await issue(file, "--role", "operator");
  const { logger, lines } = capturing();
  const h = await startHarness(
    { auth: { tokensFile: file }, trustedProxies: ["127.0.0.0/8", "::1"] },
    { logger },
  );
  try {
    const forwarded = { headers: { "x-forwarded-for": "198.51.100.23" } };
    assert.equal((await call(h, "/v1/tasks", "fw_wrong", forwarded)).status, 401);
    // A client inside the trusted range writing anything as its "address": the socket's is logged.
    const made = { headers: { "x-forwarded-for": 'admin-console", 127.0.0.1' } };
    assert.equal((await call(h, `/v1/${"x".repeat(5000)}`, undefined, made)).status, 401);
    await flushed();
    const denied = lines.filter((l) => l.event === "api_denied");
    assert.deepEqual(
      denied.map((l) => [l.reason, l.ip]),
      [
        ["unknown", "198.51.100.23"],
        ["missing", "127.0.0.1"],
      ],
    );
    // A long path is cut in the log (10,000 addresses × 15 kB would be 150 MB a minute).
    assert.equal(String(denied[1]!.path).length, 201);
  } finally {
    await h.server.close();
  }
  assert.throws(
    () => parseConfig({ trustedProxies: ["10.0.0.0/8", "10.0.0.0/33"] }),
    (e: unknown) => e instanceof ConfigError && e.field === "trustedProxies.1" && /CIDR/.test(e.message),
  );
  assert.throws(() => parseConfig({ trustedProxies: ["proxy.internal"] }), /trustedProxies\.0/);
  assert.throws(
    () => parseConfig({ trustedProxies: ["::/0"] }),
    /trustedProxies\.0: .*would trust every address/,
  );
});

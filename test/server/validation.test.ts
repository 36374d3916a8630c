import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { ConfigError, MAX_TASK_TIMEOUT_MS } from "../../src/config/config.js";
import { MAX_INPUT_DEPTH } from "../../src/core/submission.js";
import { type Harness, startHarness, writeTask } from "./harness.js";

/** A submission whose input is `depth` nested arrays, written as text (no deep value is built here). */
const deepBody = (runtime: "node" | "python3", entry: string, depth: number): string =>
  `{"user":"a","runtime":"${runtime}","entry":"${entry}","input":${"[".repeat(depth)}${"]".repeat(depth)}}`;

describe("malformed submissions get a 4xx JSON error naming the field and record nothing", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    writeTask(h.tasksDir, "ok.mjs", "export const handler = () => 1;\n");
  });
  after(async () => {
    await h.server.close();
  });

  const cases: [string, unknown, number, string][] = [
    ["missing user", { runtime: "node", entry: "ok.mjs" }, 400, "user"],
    ["mistyped priority", { user: "a", runtime: "node", entry: "ok.mjs", priority: "high" }, 400, "priority"],
    ["unknown runtime", { user: "a", runtime: "ruby", entry: "ok.mjs" }, 400, "runtime"],
    ["path traversal", { user: "a", runtime: "node", entry: "../../etc/passwd.js" }, 400, "entry"],
    ["absolute entry", { user: "a", runtime: "node", entry: "/etc/x.mjs" }, 400, "entry"],
    ["missing module", { user: "a", runtime: "node", entry: "nope.mjs" }, 400, "entry"],
    ["both entry and code", { user: "a", runtime: "node", entry: "ok.mjs", code: "x" }, 400, "entry"],
    ["neither entry nor code", { user: "a", runtime: "node" }, 400, "entry"],
    ["unknown field", { user: "a", runtime: "node", entry: "ok.mjs", colour: "red" }, 400, "colour"],
    [
      "mistyped memory",
      { user: "a", runtime: "node", entry: "ok.mjs", resources: { memoryMb: -5 } },
      400,
      "resources.memoryMb",
    ],
    [
      "timeout above the maximum",
      { user: "a", runtime: "node", entry: "ok.mjs", timeoutMs: 10 ** 9 },
      400,
      "timeoutMs",
    ],
    [
      "more memory than the whole pool (it would queue forever)",
      { user: "a", runtime: "node", entry: "ok.mjs", resources: { memoryMb: 16_384 } },
      400,
      "resources.memoryMb",
    ],
    [
      "more CPU than the whole pool",
      { user: "a", runtime: "node", entry: "ok.mjs", resources: { cpu: 16 } },
      400,
      "resources.cpu",
    ],
    ["not JSON", "{not json", 400, "(body)"],
    // JSON parses 1e400 as Infinity, which would reach the task as null.
    [
      "a number beyond a double in the input",
      '{"user":"a","runtime":"node","entry":"ok.mjs","input":{"x":[1,-1e999]}}',
      400,
      "input.x.1",
    ],
    // Deeper than JSON.stringify's stack reaches: once a 500 from the server's own serialisation.
    ["input nested 5000 deep", deepBody("node", "ok.mjs", 5000), 400, "input"],
    ["a 10 MB body", { user: "a", runtime: "node", code: "x".repeat(10 * 1024 * 1024) }, 413, "(body)"],
  ];

  for (const [name, body, status, field] of cases) {
    test(name, async () => {
      const r = await h.post(body);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(typeof r.body.error, "string");
      assert.equal(typeof r.body.message, "string");
      assert.ok(
        String(r.body.field) === field || String(r.body.message).includes(field),
        `expected field ${field}, got ${JSON.stringify(r.body)}`,
      );
    });
  }

  test("bad query parameters are named too", async () => {
    const r = await h.post({ user: "a", runtime: "node", entry: "ok.mjs" }, "?wait=maybe");
    assert.equal(r.status, 400);
    assert.equal(r.body.field, "wait");
    for (const [url, field] of [
      ["/v1/tasks?user=a&user=b", "user"],
      ["/v1/tasks?type=x&type=y", "type"],
      ["/v1/tasks?limit=1e3", "limit"],
      ["/v1/tasks?limit=0x10", "limit"],
      ["/v1/decisions?sinceMinute=", "sinceMinute"],
      // A misspelt parameter is not ignored (it listed every tenant's tasks, or did not wait).
      ["/v1/tasks?usr=alice", "usr"],
      ["/v1/forecasts?typ=x", "typ"],
      ["/v1/decisions?user=a&since=5", "since"],
      // An empty filter is not "no filter"; a control character is no name.
      ["/v1/tasks?user=", "user"],
      ["/v1/forecasts?type=", "type"],
      ["/v1/decisions?series=%01", "series"],
      ["/v1/tasks?type=a%00b", "type"],
    ] as const) {
      const r = await h.get(url);
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, field, url);
    }
    assert.equal((await h.get("/v1/tasks?limit=5&user=a")).status, 200);
    const unknown = await h.get("/v1/tasks/does-not-exist");
    assert.equal(unknown.status, 404);
    assert.equal((await h.get("/v1/tasks/a%00b")).status, 404);
    // A malformed percent-encoding is refused before any route, in the API's error shape.
    const badUrl = await h.get("/v1/tasks/%ff%fe");
    assert.deepEqual([badUrl.status, badUrl.body.error, badUrl.body.field], [400, "bad_request", "(url)"]);
    const misspelt = await h.post({ user: "a", runtime: "node", entry: "ok.mjs" }, "?wiat=true");
    assert.deepEqual([misspelt.status, misspelt.body.field], [400, "wiat"]);
  });

  test("nothing was written to the history for the rejected tasks", async () => {
    assert.equal((await h.server.store.listTasks({ limit: 1000 })).length, 0);
    const ok = await h.post({ user: "a", runtime: "node", entry: "ok.mjs" }, "?wait=true");
    assert.equal(ok.body.status, "succeeded");
    assert.equal((await h.server.store.listTasks({ limit: 1000 })).length, 1);
  });
});

describe("input nesting is capped below what either runner can decode", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ cgroups: false, prediction: { enabled: false } });
    writeTask(h.tasksDir, "same.mjs", "export const handler = (i) => i;\n");
    writeTask(h.tasksDir, "same.py", "def handler(i):\n    return i\n");
  });
  after(async () => {
    await h.server.close();
  });

  for (const [runtime, entry] of [
    ["node", "same.mjs"],
    ["python3", "same.py"],
  ] as const) {
    test(`${runtime}: ${MAX_INPUT_DEPTH} levels run and come back; one more is refused naming input`, async () => {
      const ok = await h.post(deepBody(runtime, entry, MAX_INPUT_DEPTH), "?wait=true");
      assert.equal(ok.status, 200, JSON.stringify(ok.body).slice(0, 500));
      assert.equal(ok.body.status, "succeeded", String(ok.body.error));
      assert.equal(JSON.stringify(ok.body.output), "[".repeat(MAX_INPUT_DEPTH) + "]".repeat(MAX_INPUT_DEPTH));
      const deep = await h.post(deepBody(runtime, entry, MAX_INPUT_DEPTH + 1), "?wait=true");
      assert.equal(deep.status, 400, JSON.stringify(deep.body).slice(0, 500));
      assert.equal(deep.body.field, "input");
      assert.match(
        String(deep.body.message),
        new RegExp(`nested too deeply: at most ${MAX_INPUT_DEPTH} levels`),
      );
    });
  }

  test("a refused deep input wrote nothing and the server goes on serving", async () => {
    assert.equal((await h.server.store.listTasks({ limit: 1000 })).length, 2);
    assert.equal((await h.get("/healthz")).status, 200);
  });
});

test("task timeouts stop where Node timers do: a longer maximum is refused at start; the longest allowed task and its wait run", async () => {
  // A server that wrongly starts is closed, so the failure does not hang the test file.
  const refused = await startHarness({
    cgroups: false,
    prediction: { enabled: false },
    defaults: { maxTimeoutMs: 3_000_000_000 },
  }).then(
    async (started) => {
      await started.server.close();
      return null;
    },
    (e: unknown) => e,
  );
  assert.ok(refused instanceof ConfigError, `expected a ConfigError, got ${String(refused)}`);
  assert.equal(refused.field, "defaults.maxTimeoutMs");
  // An overflowing timer fires at once and says so only in this warning.
  const overflows: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === "TimeoutOverflowWarning") overflows.push(w.message);
  };
  process.on("warning", onWarning);
  const h = await startHarness({
    cgroups: false,
    prediction: { enabled: false },
    defaults: { maxTimeoutMs: MAX_TASK_TIMEOUT_MS },
  });
  try {
    writeTask(
      h.tasksDir,
      "slow.mjs",
      "export const handler = () => new Promise((r) => setTimeout(() => r(1), 200));\n",
    );
    const over = await h.post({
      user: "a",
      runtime: "node",
      entry: "slow.mjs",
      timeoutMs: MAX_TASK_TIMEOUT_MS + 1,
    });
    assert.equal(over.status, 400);
    assert.equal(over.body.field, "timeoutMs");
    // The default wait is the timeout plus a minute: exactly 2^31-1 ms here.
    const r = await h.post(
      { user: "a", runtime: "node", entry: "slow.mjs", timeoutMs: MAX_TASK_TIMEOUT_MS },
      "?wait=true",
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "succeeded", String(r.body.error));
    await new Promise((res) => setImmediate(res)); // warnings are emitted on a later tick
    assert.deepEqual(overflows, []);
  } finally {
    process.off("warning", onWarning);
    await h.server.close();
  }
});

test("on PostgreSQL too, a NUL in an id or a filter is a 404 or a named 400, not a 500", async () => {
  const url = process.env.FOREWARM_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
  const schema = `fw_valid_${process.pid}_${randomBytes(3).toString("hex")}`;
  const h = await startHarness({
    history: { kind: "postgres", url, schema },
    prediction: { enabled: false },
  });
  try {
    assert.equal((await h.get("/v1/tasks/%00")).status, 404);
    for (const [path, field] of [
      ["/v1/tasks?user=%00", "user"],
      ["/v1/tasks?type=%00", "type"],
    ] as const) {
      const r = await h.get(path);
      assert.deepEqual([r.status, r.body.field], [400, field], path);
    }
    assert.equal((await h.get("/healthz")).status, 200);
  } finally {
    await h.server.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
});

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  ConfigError,
  envOverrides,
  loadConfig,
  MAX_TASK_TIMEOUT_MS,
  MAX_TIMER_MS,
  parseConfig,
  reactiveKeepAliveMs,
} from "../../src/config/config.js";

test("defaults: the forewarm window policy with a 1-minute reactive floor, embedded data dir, cgroups auto", () => {
  const c = parseConfig({});
  assert.equal(c.prediction.windowPolicy, "forewarm");
  assert.equal(reactiveKeepAliveMs(c, true), 60_000);
  assert.equal(c.dataDir, "./data");
  assert.equal(c.cgroups, "auto");
  assert.equal(c.defaults.resources.memoryMb, 256);
});

test("keep-alive left out: 1 minute under planning forewarm windows, else 10 minutes; given: as given", () => {
  const ka = (raw: Record<string, unknown>, planning: boolean) =>
    reactiveKeepAliveMs(parseConfig(raw), planning);
  assert.equal(ka({}, false), 600_000, "a follower plans no shadows: reactive keep-alive");
  assert.equal(ka({ prediction: { enabled: false } }, true), 600_000);
  assert.equal(ka({ prediction: { windowPolicy: "threshold" } }, true), 600_000);
  assert.equal(ka({ prediction: { windowPolicy: "cost" } }, true), 600_000);
  assert.equal(ka({ keepAliveMs: 0 }, true), 0);
  assert.equal(ka({ keepAliveMs: 5000 }, false), 5000);
  assert.throws(() => parseConfig({ keepAliveMs: -1 }), /config keepAliveMs/);
  // An empty host (a deploy template's empty variable) would listen on every interface.
  assert.throws(() => parseConfig({ host: "" }), /config host/);
});

test("FOREWARM_* variables override the file, nested with __ and camel-cased", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-cfg-"));
  const file = path.join(dir, "c.json");
  fs.writeFileSync(file, JSON.stringify({ port: 8000, capacity: { cpu: 2 } }));
  const c = loadConfig({
    file,
    env: { FOREWARM_CAPACITY__MEMORY_MB: "4096", FOREWARM_KEEP_ALIVE_MS: "1000", HOME: "/x" },
    overrides: { port: 9000 },
  });
  assert.equal(c.port, 9000);
  assert.equal(c.capacity.cpu, 2);
  assert.equal(c.capacity.memoryMb, 4096);
  assert.equal(c.keepAliveMs, 1000);
  assert.deepEqual(envOverrides({ FOREWARM_DATA_DIR: "/d" }), { dataDir: "/d" });
});

test("a bad value is rejected naming the field", () => {
  assert.throws(
    () => parseConfig({ capacity: { memoryMb: "lots" } }),
    (e: unknown) => e instanceof ConfigError && e.field === "capacity.memoryMb",
  );
  assert.throws(
    () => parseConfig({ keepAliveMinutes: 3 }),
    (e: unknown) => e instanceof ConfigError && /keepAliveMinutes|property/i.test(e.message),
  );
  assert.throws(() => loadConfig({ file: "/nonexistent/forewarm.json", env: {} }), /cannot read/);
});

test("the forewarm window policy's settings: replay's parameter names, unknown ones rejected by name", () => {
  const c = parseConfig({
    prediction: { windowPolicy: "forewarm", forewarm: { price: 2, learner: { prior: 8, daily: 0.3 } } },
  });
  assert.equal(c.prediction.forewarm.price, 2);
  assert.equal(c.prediction.forewarm.memRefMb, 100);
  assert.deepEqual(c.prediction.forewarm.learner, { prior: 8, daily: 0.3 });
  assert.throws(
    () => parseConfig({ prediction: { forewarm: { learner: { priorr: 8 } } } }),
    (e: unknown) => e instanceof ConfigError && e.field === "prediction.forewarm.learner.priorr",
  );
  // The learnt weights are switched on or off; a fraction of a switch is an error, not "on".
  const off = parseConfig({
    prediction: { forewarm: { learner: { priorAdapt: 0, dailyAdapt: 1, condAdapt: 0.25 } } },
  });
  assert.deepEqual(off.prediction.forewarm.learner, { priorAdapt: 0, dailyAdapt: 1, condAdapt: 0.25 });
  assert.throws(
    () => parseConfig({ prediction: { forewarm: { learner: { priorAdapt: 0.5 } } } }),
    (e: unknown) => e instanceof ConfigError && e.field === "prediction.forewarm.learner.priorAdapt",
  );
  assert.throws(
    () => parseConfig({ prediction: { forewarm: { learner: { daily: 1.5 } } } }),
    (e: unknown) => e instanceof ConfigError && e.field === "prediction.forewarm.learner.daily",
  );
  assert.equal(
    parseConfig({ prediction: { forewarm: { learner: { dailyFrom: 0 } } } }).prediction.forewarm.learner
      .dailyFrom,
    0,
  );
  assert.throws(
    () => parseConfig({ prediction: { forewarm: { budgetPct: 50, targetColdPct: 5 } } }),
    (e: unknown) => e instanceof ConfigError && e.field === "prediction.forewarm.targetColdPct",
  );
  assert.throws(
    () => parseConfig({ prediction: { forewarm: { price: 0 } } }),
    (e: unknown) => e instanceof ConfigError && e.field === "prediction.forewarm.price",
  );
});

test("FOREWARM_URL (the CLI client's) and other non-config variables do not stop the server; text fields stay text", () => {
  const c = loadConfig({
    env: {
      FOREWARM_URL: "http://127.0.0.1:7399",
      FOREWARM_SERVER_ID: "42",
      FOREWARM_HISTORY__SCHEMA: "fw_1",
      FOREWARM_CAPACITY__CPU: "4",
    },
  });
  assert.equal(c.serverId, "42");
  assert.equal(c.history.schema, "fw_1");
  assert.equal(c.capacity.cpu, 4);
  // A misspelt variable is still named by validation.
  assert.throws(() => loadConfig({ env: { FOREWARM_CAPACTY__CPU: "4" } }), /capacty|property/i);
});

test("settings valid alone but not together are refused at load, naming the field", () => {
  const field = (raw: Record<string, unknown>) => {
    try {
      parseConfig(raw);
      return "accepted";
    } catch (e) {
      return e instanceof ConfigError ? e.field : String(e);
    }
  };
  assert.equal(field({ defaults: { timeoutMs: 600_000, maxTimeoutMs: 300_000 } }), "defaults.timeoutMs");
  assert.equal(field({ capacity: { memoryMb: 128 } }), "defaults.resources.memoryMb");
  assert.equal(field({ capacity: { cpu: 0.5 } }), "defaults.resources.cpu");
  assert.equal(field({ capacity: { cpu: 0.5 }, defaults: { resources: { cpu: 0.5 } } }), "accepted");
});

test("durations that become Node timers are capped at 2^31-1 ms (a longer timer fires at once), naming the field", () => {
  const refusal = (raw: Record<string, unknown>) => {
    try {
      parseConfig(raw);
      return "accepted";
    } catch (e) {
      return e instanceof ConfigError ? e.message : String(e);
    }
  };
  // A task's wait adds a minute to its timeout: both must fit a timer.
  assert.equal(MAX_TASK_TIMEOUT_MS, 2_147_483_647 - 60_000);
  assert.match(
    refusal({ defaults: { maxTimeoutMs: 3_000_000_000 } }),
    /^config defaults\.maxTimeoutMs: must be at most 2147423647 ms/,
  );
  assert.match(
    refusal({ defaults: { maxTimeoutMs: MAX_TASK_TIMEOUT_MS + 1 } }),
    /^config defaults\.maxTimeoutMs/,
  );
  assert.equal(refusal({ defaults: { maxTimeoutMs: MAX_TASK_TIMEOUT_MS } }), "accepted");
  assert.match(
    refusal({ defaults: { timeoutMs: 3_000_000_000, maxTimeoutMs: MAX_TASK_TIMEOUT_MS } }),
    /^config defaults\.timeoutMs/,
  );
  for (const field of [
    "reclaimIntervalMs",
    "cluster.leaseRetryMs",
    "prediction.retrainIntervalMs",
    "prediction.planIntervalMs",
  ]) {
    const raw = (value: number): Record<string, unknown> => {
      const [a, b] = field.split(".") as [string, string | undefined];
      return b === undefined ? { [a]: value } : { [a]: { [b]: value } };
    };
    assert.match(
      refusal(raw(MAX_TIMER_MS + 1)),
      new RegExp(`^config ${field.replace(".", "\\.")}: must be at most ${MAX_TIMER_MS} ms`),
    );
    assert.equal(refusal(raw(MAX_TIMER_MS)), "accepted", field);
  }
});

test("prediction.model: an unknown forecaster is refused at load, naming the field and the known names", () => {
  assert.throws(
    () => parseConfig({ prediction: { model: "nosuchmodel" } }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.field === "prediction.model" &&
      /^config prediction\.model: unknown forecaster "nosuchmodel" \(known: auto, .*interarrival.*\)$/.test(
        e.message,
      ),
  );
  // Also when prediction is off: a misspelt model is a mistake whether or not it runs yet.
  assert.throws(() => parseConfig({ prediction: { enabled: false, model: "nosuchmodel" } }), ConfigError);
  for (const model of ["auto", "interarrival", "prophet", "lstm"])
    assert.equal(parseConfig({ prediction: { model } }).prediction.model, model);
  assert.throws(
    () => loadConfig({ env: { FOREWARM_PREDICTION__MODEL: "nosuchmodel" } }),
    /config prediction\.model \(FOREWARM_PREDICTION__MODEL, environment\): unknown forecaster/,
  );
});

test("FOREWARM_* variables merge deeply whatever their order; a field given twice is refused naming both", () => {
  const nested = ["FOREWARM_CAPACITY__MEMORY_MB", "1024"] as const;
  const whole = ["FOREWARM_CAPACITY", '{"cpu":4}'] as const;
  for (const order of [
    [nested, whole],
    [whole, nested],
  ]) {
    const c = loadConfig({ env: Object.fromEntries(order) });
    assert.equal(c.capacity.memoryMb, 1024, `order ${order.map(([k]) => k).join(", ")}`);
    assert.equal(c.capacity.cpu, 4);
  }
  // Deeper: a JSON object two levels up merges with a variable inside it.
  const deep = loadConfig({
    env: {
      FOREWARM_PREDICTION__FOREWARM__LEARNER__PRIOR: "8",
      FOREWARM_PREDICTION: '{"forewarm":{"price":2,"learner":{"daily":0.3}}}',
    },
  });
  assert.equal(deep.prediction.forewarm.price, 2);
  assert.deepEqual(deep.prediction.forewarm.learner, { prior: 8, daily: 0.3 });
  // Which one wins would be a guess: refused, naming both, in either order.
  for (const env of [
    { FOREWARM_CAPACITY__CPU: "2", FOREWARM_CAPACITY: '{"cpu":4}' },
    { FOREWARM_CAPACITY: '{"cpu":4}', FOREWARM_CAPACITY__CPU: "2" },
  ])
    assert.throws(
      () => loadConfig({ env }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.field === "capacity.cpu" &&
        /both FOREWARM_CAPACITY and FOREWARM_CAPACITY__CPU/.test(e.message),
    );
  for (const env of [
    { FOREWARM_CAPACITY__CPU: "2", FOREWARM_CAPACITY: "5" },
    { FOREWARM_CAPACITY: "5", FOREWARM_CAPACITY__CPU: "2" },
  ])
    assert.throws(
      () => loadConfig({ env }),
      /config capacity: FOREWARM_CAPACITY gives it a value that is not an object while FOREWARM_CAPACITY__CPU sets fields inside it/,
    );
});

test("an error in a value from a FOREWARM_* variable names the variable", () => {
  const message = (env: Record<string, string>, overrides?: Record<string, unknown>) => {
    try {
      loadConfig({ env, ...(overrides ? { overrides } : {}) });
      return "accepted";
    } catch (e) {
      return e instanceof ConfigError ? e.message : String(e);
    }
  };
  assert.match(
    message({ FOREWARM_: "1" }),
    /^config FOREWARM_ \(environment\): names no configuration field/,
  );
  assert.match(message({ FOREWARM_A____B: "1" }), /^config FOREWARM_A____B \(environment\)/);
  assert.equal(message({ FOREWARM_X: "1" }), "config x (FOREWARM_X, environment): Unexpected property");
  assert.match(message({ FOREWARM_PORT: "99999" }), /^config port \(FOREWARM_PORT, environment\): /);
  // Inside a JSON object: the variable that gave the object.
  assert.equal(
    message({ FOREWARM_CAPACITY: '{"cpux":4}' }),
    "config capacity.cpux (FOREWARM_CAPACITY, environment): Unexpected property",
  );
  // A value the file or a flag gave is not blamed on a variable.
  assert.match(message({ FOREWARM_PORT: "99999" }, { port: 99998 }), /^config port: /);
  assert.match(message({ FOREWARM_CAPACITY__CPU: "4" }, { port: -1 }), /^config port: /);
});

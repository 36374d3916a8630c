import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ReplayInputError } from "../../src/sim/errors.js";
import { resolveSpecs } from "../../src/sim/run.js";

const cli = path.resolve("dist/src/cli/main.js");

test("a sweep refuses values --policies would refuse, naming the parameter and the value", () => {
  for (const [policies, sweep, message] of [
    ["forewarm", "price=-2..-1", /--sweep price=-2: .*'price' must be a non-negative number, got '-2'/],
    ["fixed", "ka=-5..-3", /--sweep ka=-5: .*'ka' must be a non-negative number, got '-5'/],
    // Only the first point is negative: every point is checked, not just the ends.
    ["fixed:ka=10,hybrid", "ka=-1..3", /--sweep ka=-1: /],
  ] as const) {
    assert.throws(
      () => resolveSpecs({ policies, sweep }),
      (e: unknown) => e instanceof ReplayInputError && message.test(e.message),
      `${policies} --sweep ${sweep}`,
    );
  }
  // The same values written in --policies are refused the same way.
  assert.throws(
    () => resolveSpecs({ policies: "forewarm:price=-2" }),
    /'price' must be a non-negative number/,
  );
  // Valid sweeps still expand as before: one spec per point, labelled as if written.
  const specs = resolveSpecs({ policies: "fixed,hybrid", sweep: "ka=0..2" });
  assert.deepEqual(
    specs.map((s) => [s.label, s.params.ka, s.sweepValue ?? null]),
    [
      ["fixed:ka=0", 0, 0],
      ["fixed:ka=1", 1, 1],
      ["fixed:ka=2", 2, 2],
      ["hybrid", undefined, null],
    ],
  );
  assert.equal(specs[0]!.group, "fixed (ka swept)");
});

test("replay --sweep with a negative range fails before any replay, with no results printed", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-sweep-"));
  const trace = path.join(dir, "t.csv");
  const lines = ["t,u,k"];
  for (let m = 0; m < 120; m += 3) lines.push(`${m * 60},alice,job`, `${m * 90},bob,job`);
  fs.writeFileSync(trace, `${lines.join("\n")}\n`);
  const replay = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [cli, "replay", "--format", "csv", "--trace", trace, "--map", "time=t,user=u,type=k", ...args],
      { encoding: "utf8" },
    );
  const price = replay("--sweep", "price=-2..-1", "--policies", "forewarm", "--json");
  assert.equal(price.status, 1, price.stderr);
  assert.equal(price.stdout, "");
  assert.match(
    price.stderr,
    /^forewarm: --sweep price=-2: .*'price' must be a non-negative number, got '-2'\n$/,
  );
  const ka = replay("--sweep", "ka=-5..-3", "--policies", "fixed", "--json");
  assert.equal(ka.status, 1, ka.stderr);
  assert.equal(ka.stdout, "");
  assert.doesNotMatch(ka.stderr, /invalid decision/);
  assert.match(ka.stderr, /^forewarm: --sweep ka=-5: .*'ka' must be a non-negative number, got '-5'\n$/);
  // A valid sweep over the same trace runs.
  const ok = replay("--sweep", "ka=1..2", "--policies", "fixed", "--json");
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(
    (JSON.parse(ok.stdout) as { name: string }[]).map((r) => r.name),
    ["fixed:ka=1", "fixed:ka=2"],
  );
});

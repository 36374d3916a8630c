import assert from "node:assert/strict";
import { test } from "node:test";
import { percentile } from "../../src/sim/percentile.js";
import { forecastNextIdle } from "../../src/sim/policies/idle-forecast.js";
import { parsePolicySpec, splitPolicyList } from "../../src/sim/policies/registry.js";
import type { M1Policy } from "../../src/sim/policies/types.js";
import { loadAndReplay, resolveSpecs } from "../../src/sim/run.js";
import { parseSweep } from "../../src/sim/sweep.js";

test("policy specs: name[:k=v,k=v], list splitting, errors", () => {
  assert.deepEqual(splitPolicyList("fixed:ka=10,hybrid:range=120,bin=2,oracle"), [
    "fixed:ka=10",
    "hybrid:range=120,bin=2",
    "oracle",
  ]);
  const h = parsePolicySpec("hybrid:range=120,bin=2");
  assert.equal(h.label, "hybrid:range=120,bin=2");
  assert.equal(h.params.range, 120);
  assert.equal(h.params.kaPct, 99);
  assert.throws(() => parsePolicySpec("fixed"), /needs ka=N/);
  assert.throws(() => parsePolicySpec("fixed:kb=3"), /unknown parameter 'kb'/);
  assert.throws(() => parsePolicySpec("lru"), /unknown policy 'lru'/);
  // forewarm's learnt-weight switches are 0 or 1: a fraction is an error, not "on".
  const create = (text: string) => {
    const spec = parsePolicySpec(text);
    return spec.definition.create(spec.params, { appCount: 1 });
  };
  assert.throws(() => create("forewarm:priorAdapt=0.5"), /priorAdapt must be 0 \(off\) or 1 \(on\)/);
  assert.throws(() => create("forewarm:dailyAdapt=2"), /dailyAdapt must be 0 \(off\) or 1 \(on\)/);
  assert.doesNotThrow(() => create("forewarm:priorAdapt=0,dailyAdapt=1"));
  assert.throws(() => create("forewarm:daily=1.5"), /daily must be in \[0, 1\]/);
  assert.throws(() => create("forewarm:dailyFrom=-1"), /'dailyFrom' must be a non-negative number/);
  assert.doesNotThrow(() => create("forewarm:daily=1,dailyFrom=0"));
});

test("sweep: a..b[:step]", () => {
  assert.deepEqual(parseSweep("ka=1..5").values, [1, 2, 3, 4, 5]);
  assert.deepEqual(parseSweep("margin=0..0.3:0.1").values, [0, 0.1, 0.2, 0.3]);
  assert.throws(() => parseSweep("ka=5..1"), /a ≤ b/);
});

test("percentile is linear interpolation between closest ranks", () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  assert.equal(percentile([10], 90), 10);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test("hybrid: fallback, then histogram window around a regular 30-minute period", () => {
  const p = parsePolicySpec("hybrid");
  const policy = p.definition.create(p.params, { appCount: 1 }) as M1Policy;
  assert.deepEqual(policy.afterBusyMinute(0, 0, 1), { pw: 0, ka: 240 });
  let d = { pw: 0, ka: 0 };
  for (let k = 1; k <= 10; k++) d = policy.afterBusyMinute(0, 31 * k, 1); // idle 30 min each time
  // head = tail = bin 30: pw = ⌊30·0.9⌋ = 27, pw + ka = ⌈31·1.1⌉ = 35.
  assert.deepEqual(d, { pw: 27, ka: 8 });
});

test("hybrid: mostly out-of-range idle times use the forecast window (±15 %)", () => {
  const p = parsePolicySpec("hybrid");
  const policy = p.definition.create(p.params, { appCount: 1 }) as M1Policy;
  let d = { pw: 0, ka: 0 };
  for (let k = 0; k <= 8; k++) d = policy.afterBusyMinute(0, 1001 * k, 1); // idle 1000 min
  assert.equal(forecastNextIdle([1000, 1000, 1000]), 1000);
  assert.deepEqual(d, { pw: 850, ka: 301 });
});

test("M2 refuses M1-only policies (the hindsight bound) before anything runs, naming them; hybrid and oracle run there", () => {
  assert.throws(
    () => resolveSpecs({ policies: "fixed:ka=10,hindsight", model: "m2" }),
    /policy 'hindsight' runs in M1 only \(M2 runs fixed, no-unload, hybrid, oracle, forewarm and forecast\)/,
  );
  assert.equal(resolveSpecs({ policies: "hybrid,oracle", model: "m2" }).length, 2);
  assert.equal(
    resolveSpecs({ policies: "fixed,no-unload,forewarm", model: "m2", sweep: "ka=1..2" }).length,
    4,
  );
  assert.equal(resolveSpecs({ policies: "hindsight,hybrid,oracle" }).length, 3);
});

test("a sweep that makes several listed specs the same runs each once", () => {
  const labels = resolveSpecs({ policies: "fixed:ka=10,fixed:ka=60,hybrid", sweep: "ka=5..10:5" }).map(
    (s) => s.label,
  );
  assert.deepEqual(labels, [...new Set(labels)]);
  assert.equal(labels.filter((l) => l.startsWith("fixed")).length, 2);
});

test("fixed: ka must be whole minutes in M1 (also swept), before the trace loads; M2 takes fractions", async () => {
  assert.throws(
    () => resolveSpecs({ policies: "fixed:ka=1.5" }),
    /^ReplayInputError: policy 'fixed:ka=1\.5': ka must be a whole number of minutes in M1, got 1\.5/,
  );
  assert.throws(
    () => resolveSpecs({ policies: "fixed:ka=1", sweep: "ka=1..3:0.5" }),
    /policy 'fixed:ka=1\.5': ka must be a whole number/,
  );
  assert.equal(resolveSpecs({ policies: "fixed:ka=1", sweep: "ka=1..3:0.5", model: "m2" }).length, 5);
  // Refused before the (here missing) trace is read.
  await assert.rejects(
    loadAndReplay({ format: "azure2021", trace: "/nonexistent/trace.csv" }, { policies: "fixed:ka=1.5" }),
    /ka must be a whole number/,
  );
});

/** Each `policy:params` is refused by resolveSpecs (before any trace loads), naming the label and why. */
function assertRefused(policy: string, refused: [string, RegExp][]): void {
  for (const [params, pattern] of refused) {
    const label = `${policy}:${params}`;
    assert.throws(
      () => resolveSpecs({ policies: label }),
      (err: Error) =>
        err.name === "ReplayInputError" &&
        err.message.startsWith(`policy '${label}': `) &&
        pattern.test(err.message),
      label,
    );
  }
}

test("hybrid: parameters out of range are refused before the trace loads, naming the parameter", async () => {
  const refused: [string, RegExp][] = [
    ["pwPct=500,kaPct=300", /pwPct must be a percentile in \[0, 100\], got 500/],
    ["kaPct=300", /kaPct must be a percentile in \[0, 100\], got 300/],
    ["pwPct=50,kaPct=10", /pwPct \(50\) must not exceed kaPct \(10\)/],
    ["bin=0", /bin must be a whole number ≥ 1, got 0/],
    ["bin=1.5", /bin must be a whole number ≥ 1, got 1\.5/],
    ["range=0", /range must be a whole number ≥ 1, got 0/],
    ["range=10.5", /range must be a whole number ≥ 1/],
    ["arWindow=0", /arWindow must be a whole number ≥ 1/],
    ["minSamples=2.5", /minSamples must be a whole number/],
    ["margin=150", /margin must be a percentage in \[0, 100\], got 150/],
    ["arimaMargin=101", /arimaMargin must be a percentage in \[0, 100\]/],
    ["oobThreshold=2", /oobThreshold must be a share in \[0, 1\], got 2/],
  ];
  assertRefused("hybrid", refused);
  assert.equal(resolveSpecs({ policies: "hybrid:pwPct=0,kaPct=100,margin=100,oobThreshold=1" }).length, 1);
  await assert.rejects(
    loadAndReplay({ format: "azure2021", trace: "/nonexistent/trace.csv" }, { policies: "hybrid:bin=0" }),
    /policy 'hybrid:bin=0': bin must be a whole number/,
  );
});

test("forewarm: parameters out of range are refused before the trace loads, naming the parameter", async () => {
  const refused: [string, RegExp][] = [
    ["range=0", /range must be a whole number ≥ 1, got 0/],
    ["decay=1", /decay must be in \[0, 1\), got 1/],
    ["forget=0", /forget must be in \(0, 1\], got 0/],
    ["daily=2", /daily must be in \[0, 1\], got 2/],
    ["priorAdapt=2", /priorAdapt must be 0 \(off\) or 1 \(on\)/],
  ];
  assertRefused("forewarm", refused);
  // Swept values are checked too, before anything is read.
  await assert.rejects(
    loadAndReplay(
      { format: "azure2021", trace: "/nonexistent/trace.csv" },
      { policies: "forewarm", sweep: "decay=0..1:0.5" },
    ),
    /policy 'forewarm[^']*decay=1[^']*': decay must be in \[0, 1\), got 1/,
  );
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { replayLoaded } from "../../src/sim/run.js";
import { loadOnce } from "./traces.js";

const REFERENCE_POLICIES = "fixed:ka=10,fixed:ka=60,fixed:ka=240,oracle";

test("M1 reproduces the azure2019-500fn-8h reference table exactly", async () => {
  const { m1 } = replayLoaded(await loadOnce("azure2019"), { policies: REFERENCE_POLICIES });
  const expected = [
    // name, cold starts, cold % (3 dp), p50 (2 dp), p75 (1 dp), wasted MB·min (rounded)
    ["fixed:ka=10", 2375, "0.078", "7.43", "100.0", 6_039_170],
    ["fixed:ka=60", 604, "0.020", "2.08", "20.0", 9_347_071],
    ["fixed:ka=240", 485, "0.016", "1.87", "12.5", 10_936_176],
    ["oracle", 476, "0.016", "1.87", "12.5", 0],
  ] as const;
  assert.equal(m1!.length, expected.length);
  m1!.forEach((s, i) => {
    const [name, cold, pct, p50, p75, waste] = expected[i]!;
    assert.equal(s.name, name);
    assert.equal(s.apps, 476);
    assert.equal(s.invocations, 3_037_902);
    assert.equal(s.coldStarts, cold, name);
    assert.equal(s.avoidableColdStarts, cold - 476, name);
    assert.equal(s.coldPctOverall.toFixed(3), pct, name);
    assert.equal(s.appColdPct.p50.toFixed(2), p50, name);
    assert.equal(s.appColdPct.p75.toFixed(1), p75, name);
    assert.equal(Math.round(s.wastedMbMin), waste, name);
  });
});

test("M1 reproduces the google2011-jobs-days01-07 reference table exactly", async () => {
  const { m1 } = replayLoaded(await loadOnce("google"), { policies: REFERENCE_POLICIES });
  const expected = [
    ["fixed:ka=10", "64.40", "100.0"],
    ["fixed:ka=60", "44.70", "472.4"],
    ["fixed:ka=240", "28.10", "1356.2"],
    ["oracle", "11.90", "0.0"],
  ] as const;
  m1!.forEach((s, i) => {
    const [name, pct, norm] = expected[i]!;
    assert.equal(s.name, name);
    assert.equal(s.apps, 18_334);
    assert.equal(s.invocations, 154_082);
    assert.equal(s.coldPctOverall.toFixed(2), pct, name);
    assert.equal(s.wastedNormPct.toFixed(1), norm, name);
  });
});

test("fixed 10 is run implicitly for normalisation and not reported when not listed", async () => {
  const { m1 } = replayLoaded(await loadOnce("azure2019"), { policies: "fixed:ka=60,no-unload,hybrid" });
  assert.deepEqual(
    m1!.map((s) => s.name),
    ["fixed:ka=60", "no-unload", "hybrid"],
  );
  assert.equal(m1![0]!.wastedNormPct.toFixed(1), "154.8");
  // No unloading: only first invocations are cold, and it wastes the most of all reactive policies.
  assert.equal(m1![1]!.coldStarts, 476);
  assert.ok(m1![1]!.wastedMbMin > 10_936_176);
});

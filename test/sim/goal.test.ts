import assert from "node:assert/strict";
import { test } from "node:test";
import { goalStanding, goalSummary } from "../../src/sim/goal.js";
import type { M1Score } from "../../src/sim/m1.js";
import { replayLoaded } from "../../src/sim/run.js";
import { loadOnce } from "./traces.js";

function score(name: string, avoidable: number, waste: number, bound = false): M1Score {
  return {
    name,
    apps: 10,
    invocations: 100,
    coldStarts: 10 + avoidable,
    avoidableColdStarts: avoidable,
    coldPctOverall: 0,
    appColdPct: { p50: 0, p75: 0, p90: 0 },
    wastedMbMin: waste,
    wastedNormPct: 0,
    bound,
    appColdPctSorted: new Float64Array(0),
  };
}

test("goal standings: ratios to hybrid, met only at or under half on both axes, worse than fixed 10 only on both", () => {
  const hybrid = score("hybrid", 200, 1000);
  const fixed10 = score("fixed:ka=10", 300, 800);
  const at = (a: number, w: number) => goalStanding(score("p", a, w), hybrid, fixed10);
  assert.deepEqual(at(100, 500), { avoidable: 0.5, waste: 0.5, meets: true, worseThanFixed10: false });
  assert.equal(at(101, 500).meets, false);
  assert.equal(at(100, 501).meets, false);
  assert.equal(at(301, 801).worseThanFixed10, true);
  assert.equal(at(301, 800).worseThanFixed10, false, "equal waste is not worse");
  assert.equal(at(300, 2000).worseThanFixed10, false, "equal cold starts are not worse");
  // A hybrid with nothing avoidable: none is at most half of it (the goal holds on the counts), any
  // is infinitely more.
  const none = score("hybrid", 0, 1000);
  assert.deepEqual(goalStanding(score("p", 0, 300), none, fixed10), {
    avoidable: 0,
    waste: 0.3,
    meets: true,
    worseThanFixed10: false,
  });
  assert.equal(goalStanding(score("p", 1, 0), none, fixed10).avoidable, Number.POSITIVE_INFINITY);
  assert.equal(goalStanding(score("p", 1, 0), none, fixed10).meets, false);
});

test("goal summary with a hybrid that has no avoidable cold starts: ∞ printed as such, closest by the other axis", () => {
  const hybrid = score("hybrid", 0, 1000);
  const fixed10 = score("fixed:ka=10", 30, 800);
  const rows = [score("a", 5, 900), score("b", 5, 200), score("c", 7, 100)];
  for (const r of rows) r.goal = goalStanding(r, hybrid, fixed10);
  // All ∞ on cold starts: the least waste is the closest.
  assert.match(goalSummary(rows), /not met; closest c \(∞× \/ 0\.10×\), infinitely far/);
});

test("goal summary: names who meets it, else the closest causal policy on its worse axis; bounds and hybrid never count", () => {
  const hybrid = score("hybrid", 200, 1000);
  const fixed10 = score("fixed:ka=10", 300, 800);
  const rows = [
    score("hybrid", 200, 1000),
    score("oracle", 0, 0, true),
    score("a", 60, 700), // worse axis 0.70
    score("b", 130, 560), // worse axis 0.65: the closest
    score("c", 400, 900), // worse than fixed 10 on both
  ];
  for (const r of rows) r.goal = goalStanding(r, hybrid, fixed10);
  const text = goalSummary(rows);
  assert.match(text, /not met; closest b \(0\.65× \/ 0\.56×\), its worse axis 1\.300× the goal/);
  assert.match(text, /worse than fixed:ka=10 on both axes: c$/);
  rows.push(score("d", 90, 450), score("e", 100, 500));
  for (const r of rows) r.goal = goalStanding(r, hybrid, fixed10);
  assert.match(goalSummary(rows), /met by d \(0\.45× \/ 0\.45×\), e \(0\.50× \/ 0\.50×\)/);
  // Without standings (M2, or nothing but bounds) there is nothing to say.
  assert.equal(goalSummary([score("x", 1, 1)]), "");
});

test("M1 replays are held against hybrid run implicitly, exactly as against a listed hybrid", async () => {
  const loaded = await loadOnce("azure2019");
  const alone = replayLoaded(loaded, { policies: "fixed:ka=60,forewarm:price=2" }).m1!;
  const listed = replayLoaded(loaded, { policies: "hybrid,fixed:ka=60,forewarm:price=2" }).m1!;
  assert.deepEqual(
    alone.map((s) => s.name),
    ["fixed:ka=60", "forewarm:price=2"],
    "the implicit runs are not reported",
  );
  const hybrid = listed[0]!;
  for (const [i, s] of alone.entries()) {
    assert.deepEqual(s.goal, listed[i + 1]!.goal, s.name);
    assert.equal(s.goal!.avoidable, s.avoidableColdStarts / hybrid.avoidableColdStarts);
    assert.equal(s.goal!.waste, s.wastedMbMin / hybrid.wastedMbMin);
  }
  assert.deepEqual(hybrid.goal, { avoidable: 1, waste: 1, meets: false, worseThanFixed10: false });
  // Fixed 60 keeps more loaded than fixed 10 for fewer cold starts: not worse on both.
  assert.equal(alone[0]!.goal!.worseThanFixed10, false);
});

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { m1Table } from "../../src/sim/format.js";
import { crossingSummary, frontierCrossings, goalStanding, goalSummary } from "../../src/sim/goal.js";
import type { M1Score } from "../../src/sim/m1.js";
import { replayLoaded } from "../../src/sim/run.js";
import { AZURE2019, CLI, loadOnce } from "./traces.js";

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
  // The table marks who meets it: two decimals read 0.50 for 0.4994 and 0.5006 alike.
  rows.push(score("f", 101, 500));
  for (const r of rows) r.goal = goalStanding(r, hybrid, fixed10);
  const table = m1Table(rows).split("\n");
  const line = (name: string) => table.find((l) => l.startsWith(`${name} `))!;
  assert.match(line("e"), /0\.50 \/ 0\.50 ✓$/);
  assert.match(line("f"), /0\.51 \/ 0\.50 {2}$/);
  assert.match(line("b"), /0\.65 \/ 0\.56 {2}$/);
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

test("frontier crossings: interpolated where avoidable = waste, the lowest of several, none for bounds or lone points", () => {
  const hybrid = score("hybrid", 200, 1000);
  const fixed10 = score("fixed:ka=10", 300, 800);
  // (value, avoidable, waste): a = w between 2 and 3, and again (noise) between 4 and 5.
  const sweep: [number, number, number][] = [
    [1, 80, 700], // 0.40 / 0.70
    [2, 110, 600], // 0.55 / 0.60
    [3, 130, 500], // 0.65 / 0.50
    [4, 130, 680], // 0.65 / 0.68
    [5, 150, 400], // 0.75 / 0.40
  ];
  const runs: { group: string; sweepValue?: number }[] = [];
  const rows: M1Score[] = [];
  // Listed out of order: the sweep is sorted by its value.
  for (const [v, a, w] of [...sweep].reverse()) {
    runs.push({ group: "p (x swept)", sweepValue: v });
    rows.push(score(`p:x=${v}`, a, w));
  }
  runs.push(
    { group: "oracle" },
    { group: "b (x swept)", sweepValue: 1 },
    { group: "h (x swept)", sweepValue: 1 },
  );
  rows.push(score("oracle", 0, 0, true), score("b:x=1", 10, 10), score("h:x=1", 0, 0, true));
  runs.push({ group: "above (x swept)", sweepValue: 1 }, { group: "above (x swept)", sweepValue: 2 });
  rows.push(score("above:x=1", 180, 100), score("above:x=2", 160, 90));
  for (const r of rows) r.goal = goalStanding(r, hybrid, fixed10);
  const crossings = frontierCrossings(runs, rows);
  assert.deepEqual(
    crossings.map((c) => c.group),
    ["p (x swept)", "above (x swept)"],
    "bounds and one-point sweeps have no frontier",
  );
  const p = crossings[0]!.at!;
  // Between 2 (0.55 − 0.60 = −0.05) and 3 (0.65 − 0.50 = +0.15): a quarter of the way, at 0.575.
  assert.deepEqual(p.between, [2, 3]);
  assert.ok(Math.abs(p.value - 2.25) < 1e-12, `${p.value}`);
  assert.ok(Math.abs(p.times - 0.575) < 1e-12, `${p.times}`);
  // Between 4 (−0.03) and 5 (+0.35) it crosses again, higher (0.658): the lower one is reported.
  assert.equal(crossings[1]!.at, undefined);
  assert.equal(crossings[1]!.worseAxis, "avoidable");
  const text = crossingSummary(crossings, "x");
  assert.match(
    text,
    /^p \(x swept\) crosses avoidable = waste at 0\.575× hybrid \(x ≈ 2\.250, interpolated between 2 and 3\): 1\.150× the goal$/m,
  );
  assert.match(text, /^above \(x swept\) does not cross .*avoidable cold starts stay the worse axis/m);
});

test("replay --sweep prints where the frontier crosses avoidable = waste", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [
    CLI,
    "replay",
    "--format",
    "azure2019",
    "--invocations",
    AZURE2019.invocations,
    "--memory",
    AZURE2019.memory,
    "--policies",
    "forewarm",
    "--sweep",
    "price=2..3.5:0.5",
  ]);
  // The line's figures are the table's own rows interpolated: the bracket is where a − w changes sign.
  const rows = [...stdout.matchAll(/^forewarm:price=(\S+) .* ([\d.]+) \/ ([\d.]+)(?: ✓| {2})$/gm)].map(
    (r) => ({
      price: Number(r[1]),
      a: Number(r[2]),
      w: Number(r[3]),
    }),
  );
  assert.equal(rows.length, 4, stdout);
  const i = rows.findIndex(
    (r, k) => k > 0 && Math.sign(rows[k - 1]!.a - rows[k - 1]!.w) !== Math.sign(r.a - r.w),
  );
  assert.ok(i > 0, "the sweep brackets a crossing");
  const m =
    /crosses avoidable = waste at ([\d.]+)× hybrid \(price ≈ ([\d.]+), interpolated between ([\d.]+) and ([\d.]+)\): ([\d.]+)× the goal/.exec(
      stdout,
    );
  assert.ok(m, stdout);
  const [lo, hi] = [rows[i - 1]!, rows[i]!];
  assert.deepEqual([Number(m[3]), Number(m[4])], [lo.price, hi.price]);
  assert.ok(Number(m[2]) > lo.price && Number(m[2]) < hi.price, m[0]);
  const times = Number(m[1]);
  assert.ok(times >= Math.max(Math.min(lo.a, hi.a), Math.min(lo.w, hi.w)) - 0.005, m[0]);
  assert.ok(times <= Math.min(Math.max(lo.a, hi.a), Math.max(lo.w, hi.w)) + 0.005, m[0]);
  assert.ok(Math.abs(Number(m[5]) - times / 0.5) < 0.002, m[0]);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { ForewarmLearner, LEARNER_DEFAULTS } from "../../src/plan/forewarm-learner.js";
import { atomMassIn, newPoolTicket, PooledGaps, type PoolTicket } from "../../src/plan/pooled-gaps.js";
import { emptyChoice } from "../../src/plan/window-policy.js";

function pools(byBirth: boolean): PooledGaps {
  return new PooledGaps(10_080, [0, 1, 2, 4, 8], 30, 32, 1.1, 3, 4, 0, false, 720, byBirth);
}

/** An app of user 0 first seen at `born` whose gaps so far were `gaps`; its next wait is open. */
function addApp(pool: PooledGaps, born: number, gaps: readonly number[] = []): PoolTicket {
  const t = newPoolTicket();
  pool.enter(0, Number.NaN, born, 0, -1, t);
  let last = born;
  gaps.forEach((gap, i) => {
    pool.completeIn(t, last, gap);
    last += gap;
    const seen = gaps.slice(0, i + 1);
    pool.enter(i + 1, seen.reduce((a, b) => a + b, 0) / seen.length, last, 0, -1, t);
  });
  return t;
}

/**
 * 100 apps seen as the pools start, all back a minute later (old apps whose past is cut off), then 100
 * first seen 200–299 minutes in that never come back (new apps). Returns the mass the prior of an app
 * first seen at `born` puts on gaps of 1–10 minutes at 400.
 */
function earlyMass(byBirth: boolean, born: number): number {
  const pool = pools(byBirth);
  for (let a = 0; a < 100; a++) addApp(pool, 0, [1]);
  for (let a = 0; a < 100; a++) addApp(pool, 200 + a);
  return atomMassIn(pool.priorOf(400, addApp(pool, born)), 1, 10, 10_080);
}

test("birth classes: an app first seen hours after the start takes the first gaps of apps first seen then, not those of the apps seen at the start", () => {
  // Pooled together, the old apps' one-minute gaps dominate the new app's prior; by birth class, the
  // new app's class has seen no one come back within minutes.
  assert.ok(earlyMass(false, 350) > 0.4, `${earlyMass(false, 350)}`);
  assert.ok(earlyMass(true, 350) < 0.01, `${earlyMass(true, 350)}`);
  // An app seen in the first minute still takes the old apps' gaps (its class is theirs).
  assert.ok(earlyMass(true, 0) > 0.9, `${earlyMass(true, 0)}`);
});

test("birth classes in the learner: a late app is not kept loaded for the minutes right after it, as busy old apps are", () => {
  // Forty apps seen at the start come back every minute for an hour; forty first seen 100–139 minutes
  // in come once (a class needs 30 to be used); then one more late app: its window is the late apps'
  // (none came back within minutes), not the busy apps' (back in one).
  const windowOfLast = (birth: number): { pw: number; ka: number } => {
    const learner = new ForewarmLearner(81, { ...LEARNER_DEFAULTS, birth, marginAdapt: 0 });
    const out = emptyChoice();
    for (let m = 0; m < 60; m++) for (let a = 0; a < 40; a++) learner.decide(a, m, 1e-3, out);
    for (let a = 40; a < 80; a++) learner.decide(a, 100 + (a - 40), 1e-3, out);
    // Busy apps go on, so the late ones' open waits age.
    for (let m = 140; m < 300; m += 10) for (let a = 0; a < 40; a++) learner.decide(a, m, 1e-3, out);
    learner.decide(80, 300, 1e-3, out);
    return { pw: out.pw, ka: out.ka };
  };
  const without = windowOfLast(0);
  const withBirth = windowOfLast(1);
  assert.ok(without.pw === 0 && without.ka >= 1, JSON.stringify(without));
  assert.ok(withBirth.pw >= 10, JSON.stringify(withBirth));
});

test("birth classes reach an app's second gap through its group's pools", () => {
  // One user: 40 old apps whose second gap was a minute, 40 new ones (first seen 200+) whose first gap
  // was 5 minutes and whose second has not come. A new app after its first gap takes the new apps'.
  const secondGapMass = (byBirth: boolean): number => {
    const pool = pools(byBirth);
    for (let a = 0; a < 40; a++) addApp(pool, 0, [5, 1]);
    for (let a = 0; a < 40; a++) addApp(pool, 200 + a, [5]);
    return atomMassIn(pool.priorOf(400, addApp(pool, 300, [5])), 1, 10, 10_080);
  };
  assert.ok(secondGapMass(false) > 0.3, `${secondGapMass(false)}`);
  assert.ok(secondGapMass(true) < 0.1, `${secondGapMass(true)}`);
});

test("a birth class with too few apps yet borrows the nearest earlier class of new apps, not the old apps'", () => {
  // A learner relearnt over a week's window puts apps born since into the last class, empty at first.
  const pool = pools(true);
  for (let a = 0; a < 100; a++) addApp(pool, 0, [1]);
  for (let a = 0; a < 100; a++) addApp(pool, 200 + a);
  // Born 5,000 minutes in (class 1000–9999, empty): the class 100–999 apps', who did not come back.
  const late = addApp(pool, 5000);
  assert.ok(atomMassIn(pool.priorOf(5010, late), 1, 10, 10_080) < 0.01);
});

test("the pools' ticket follows an app's group slot from its birth class to its stage, whatever the stage limits", () => {
  // Stage limits [0, 1, 4]: one and two gaps share a stage; with one gap the app's group pools are its
  // birth class's, with two they are the stage's, shared with every app at that stage.
  const pool = new PooledGaps(10_080, [0, 1, 4], 30, 32, 1.1, 3, 4, 0, false, 720, true);
  pool.enter(0, Number.NaN, 0, 0, -1, newPoolTicket());
  const app = addApp(pool, 500, [5, 5]);
  const other = newPoolTicket();
  pool.enter(2, 5, 510, 0, -1, other);
  assert.equal(app.group, other.group);
});

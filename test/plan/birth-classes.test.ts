import assert from "node:assert/strict";
import { test } from "node:test";
import { ForewarmLearner, LEARNER_DEFAULTS } from "../../src/plan/forewarm-learner.js";
import { atomMassIn, newPoolTicket, PooledGaps } from "../../src/plan/pooled-gaps.js";
import { emptyChoice } from "../../src/plan/window-policy.js";

/**
 * 100 apps seen as the pools start, all back a minute later (old apps whose past is cut off), then 100
 * first seen 200–299 minutes in that never come back (new apps). User 0 owns all of them; trigger
 * none. Returns the mass the prior of an app first seen at `born` puts on gaps of 1–10 minutes at 400.
 */
function earlyMass(byBirth: boolean, born: number): number {
  const pool = new PooledGaps(10_080, [0, 1, 2, 4, 8], 30, 32, 1.1, 3, 4, 0, false, 720, byBirth);
  for (let a = 0; a < 100; a++) {
    const t = newPoolTicket();
    pool.enter(0, Number.NaN, 0, 0, -1, t);
    pool.completeIn(t, 0, 1);
    // Its next wait is a later stage's: not the first-gap pools.
    pool.enter(1, 1, 1, 0, -1, t);
  }
  for (let a = 0; a < 100; a++) pool.enter(0, Number.NaN, 200 + a, 0, -1, newPoolTicket());
  const t = newPoolTicket();
  pool.enter(0, Number.NaN, born, 0, -1, t);
  return atomMassIn(pool.priorOf(400, t), 1, 10, 10_080);
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
    const pool = new PooledGaps(10_080, [0, 1, 2, 4, 8], 30, 32, 1.1, 3, 4, 0, false, 720, byBirth);
    for (let a = 0; a < 40; a++) {
      const t = newPoolTicket();
      pool.enter(0, Number.NaN, 0, 0, -1, t);
      pool.completeIn(t, 0, 5);
      pool.enter(1, 5, 5, 0, -1, t);
      pool.completeIn(t, 5, 1);
    }
    for (let a = 0; a < 40; a++) {
      const t = newPoolTicket();
      pool.enter(0, Number.NaN, 200 + a, 0, -1, t);
      pool.completeIn(t, 200 + a, 5);
      pool.enter(1, 5, 205 + a, 0, -1, t);
    }
    const t = newPoolTicket();
    pool.enter(0, Number.NaN, 300, 0, -1, t);
    pool.completeIn(t, 300, 5);
    pool.enter(1, 5, 305, 0, -1, t);
    return atomMassIn(pool.priorOf(400, t), 1, 10, 10_080);
  };
  assert.ok(secondGapMass(false) > 0.3, `${secondGapMass(false)}`);
  assert.ok(secondGapMass(true) < 0.1, `${secondGapMass(true)}`);
});

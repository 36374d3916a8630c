import assert from "node:assert/strict";
import { test } from "node:test";
import { atomsFrom, type GapAtoms } from "../../src/plan/idle-distribution.js";
import { calibratePrice, chooseWindow } from "../../src/plan/window-policy.js";

/** Expected cost of (pw, ka) straight from the M1 rules, outcome by outcome (tail = never). */
function m1Cost(d: GapAtoms, pw: number, ka: number, price: number): number {
  let cost = 0;
  const e = pw + ka;
  for (let i = 0; i < d.size; i++) {
    const h = d.gap[i]!;
    const hit = pw < h && h <= e;
    const idle = Math.max(0, Math.min(e, h - 1) - pw);
    cost += d.prob[i]! * ((hit ? 0 : 1) + price * idle);
  }
  return cost + d.tail * ((ka > 0 ? 1 : 1) + price * ka);
}

test("a point mass at gap 5 and a low price: prewarm 4, keep 1 (the oracle's window)", () => {
  const c = chooseWindow(atomsFrom([[5, 1]]), 0, { price: 0.001 });
  assert.deepEqual([c.pw, c.ka, c.pMiss, c.expectedIdle], [4, 1, 0, 0]);
  assert.match(c.reason, /load \(now\+4, now\+5\]/);
});

test("a flat distribution gives plain keep-alive over its support", () => {
  const flat = atomsFrom(Array.from({ length: 20 }, (_, i) => [i + 1, 1 / 20] as const));
  const c = chooseWindow(flat, 0, { price: 0.001 });
  assert.equal(c.pw, 0);
  assert.equal(c.ka, 20);
});

test("a high price unloads; as the price rises the window never grows", () => {
  const d = atomsFrom(
    [
      [1, 0.3],
      [10, 0.3],
      [60, 0.2],
    ],
    0.2,
  );
  assert.equal(chooseWindow(d, 0, { price: 1e6 }).ka, 0);
  let previous = Number.POSITIVE_INFINITY;
  for (const price of [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10]) {
    const c = chooseWindow(d, 0, { price });
    assert.ok(c.ka <= previous, `ka ${c.ka} at price ${price}`);
    previous = c.ka;
  }
});

test("the one-pass optimum equals brute force over every (pw, ka) under M1 accounting", () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let trial = 0; trial < 200; trial++) {
    const pairs = new Map<number, number>();
    for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) pairs.set(1 + Math.floor(rand() * 40), rand());
    const tail = rand() < 0.5 ? 0 : rand();
    const sum = [...pairs.values()].reduce((s, v) => s + v, 0) + tail;
    const d = atomsFrom(
      [...pairs].map(([g, p]) => [g, p / sum] as const),
      tail / sum,
    );
    const price = 10 ** (-4 + 4 * rand());
    let best = m1Cost(d, 0, 0, price);
    for (let pw = 0; pw <= 45; pw++)
      for (let ka = 1; ka <= 45; ka++) best = Math.min(best, m1Cost(d, pw, ka, price));
    const c = chooseWindow(d, 0, { price });
    assert.ok(Math.abs(c.expectedCost - best) < 1e-9, `trial ${trial}: ${c.expectedCost} vs ${best}`);
    assert.ok(Math.abs(m1Cost(d, c.pw, c.ka, price) - best) < 1e-9);
  }
});

test("time already idle conditions the window (now = last + idleSoFar)", () => {
  const d = atomsFrom([
    [2, 0.5],
    [30, 0.5],
  ]);
  const c = chooseWindow(d, 10, { price: 0.001 });
  assert.deepEqual([c.pw, c.ka, c.pMiss], [19, 1, 0]);
});

test("calibratePrice finds the cheapest price meeting a waste budget and the dearest meeting a cold target", () => {
  const waste = (price: number) => 100 / (1 + price);
  const p = calibratePrice(waste, 50, true, 1e-3, 1e3, 30);
  assert.ok(Math.abs(p - 1) < 1e-3);
  const cold = (price: number) => Math.log10(price) + 5;
  const q = calibratePrice(cold, 5, false, 1e-3, 1e3, 30);
  assert.ok(Math.abs(q - 1) < 1e-3);
});

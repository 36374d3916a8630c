import assert from "node:assert/strict";
import { test } from "node:test";
import { ScaledClock, VirtualClock } from "../../src/core/clock.js";

test("VirtualClock moves only forward and only when told", () => {
  const c = new VirtualClock(1000);
  assert.equal(c.now(), 1000);
  c.advance(500);
  assert.equal(c.now(), 1500);
  assert.throws(() => c.set(10), /cannot go back/);
  assert.equal(c.now(), 1500);
});

test("ScaledClock runs faster than the wall clock by its scale", async () => {
  const c = new ScaledClock(1000, 0);
  const a = c.now();
  await new Promise((r) => setTimeout(r, 20));
  const b = c.now();
  // 20 ms of wall time is at least ~10 s of scaled time; only the ordering of magnitudes is asserted.
  assert.ok(b - a >= 10_000, `scaled clock advanced only ${b - a} ms`);
});

test("ScaledClock gives whole milliseconds at any scale (the stores keep integer times)", async () => {
  const c = new ScaledClock(1.5, 1_749_556_800_000.25);
  for (let i = 0; i < 20; i++) {
    const t = c.now();
    assert.ok(Number.isInteger(t), `${t} is not a whole millisecond`);
    await new Promise((r) => setTimeout(r, 1));
  }
});

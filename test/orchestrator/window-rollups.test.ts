import assert from "node:assert/strict";
import { test } from "node:test";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { windowRollups } from "../../src/orchestrator/series-models.js";

test("a retrain reads its window's rollups a few minutes at a time, letting the event loop run, with the rows of one read", async () => {
  const store = new SqliteHistoryStore(":memory:");
  try {
    // Three series busy every minute for about two days (rows interleave by minute across series).
    for (let m = 0; m < 3_000; m++)
      for (const [user, type] of [
        ["b", "x"],
        ["a", "y"],
        ["a", "x"],
      ] as const)
        await store.recordConcurrency(user, type, 1_000 + m, 1 + (m % 3));
    const whole = await store.rollups({ fromMinute: 900, toMinute: 4_100 });
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    // About 500 rows a read (the default, 20,000, needs a bigger history to show it).
    const read = await windowRollups(store, 900, 4_100, 500);
    ticking = false;
    assert.deepEqual(read, whole, "the same rows, in the same order (by series, then minute)");
    assert.ok(turns >= 10, `other work ran during the read (${turns} turns)`);
  } finally {
    await store.close();
  }
});

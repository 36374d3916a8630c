import assert from "node:assert/strict";
import { test } from "node:test";
import { SeriesActivityLog } from "../../src/orchestrator/series-activity.js";

const MIN = 60_000;

test("a series' concurrency in a minute is the most of its tasks routed then that ran at once", () => {
  const log = new SeriesActivityLog();
  log.running("a|t", 10 * MIN + 1_000, 1);
  log.running("a|t", 10 * MIN + 2_000, 3);
  log.running("a|t", 10 * MIN + 3_000, 2);
  log.running("b|t", 10 * MIN + 3_000, 1);
  // A task routed in minute 10 that started running in minute 11 (after a cold start) counts for 10.
  log.running("a|t", 10 * MIN + 59_000, 4);
  log.running("a|t", 11 * MIN + 1_000, 1);
  assert.equal(log.peakConcurrency("a|t", 10), 4);
  assert.equal(log.peakConcurrency("b|t", 10), 1);
  assert.equal(log.peakConcurrency("a|t", 11), 1);
  assert.equal(log.peakConcurrency("c|t", 10), 0);
  // Only the last few minutes are kept.
  log.running("a|t", 20 * MIN, 1);
  assert.equal(log.peakConcurrency("a|t", 10), 0);
});

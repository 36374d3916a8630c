import assert from "node:assert/strict";
import { test } from "node:test";
import { SeriesActivityLog } from "../../src/orchestrator/series-activity.js";

const MIN = 60_000;

test("a series' concurrency: the most of its tasks that would have run at once had all started warm", () => {
  const log = new SeriesActivityLog();
  // A cold-start cascade: four arrivals 2 s apart while the first environment takes 10 s; each task
  // runs 0.5 s once started. Four environments were used, but warm they never overlap.
  for (let i = 0; i < 4; i++) {
    const span = log.started("a|t", 10 * MIN + i * 2_000, 10 * MIN + 10_000 + i * 10);
    log.finished(span, 10 * MIN + 10_500 + i * 10);
  }
  assert.equal(log.peakConcurrency("a|t", 10, 11 * MIN), 1);
  // A fan-out: three arrivals together, one of them started late by its cold start; they overlap.
  for (let i = 0; i < 3; i++) {
    const span = log.started("b|t", 10 * MIN + 30_000, 10 * MIN + 30_000 + (i === 2 ? 10_000 : 0));
    log.finished(span, 10 * MIN + 30_000 + (i === 2 ? 10_000 : 0) + 2_000);
  }
  assert.equal(log.peakConcurrency("b|t", 10, 11 * MIN), 3);
  // A task still running counts up to now; one routed in the minute before counts while it overlaps.
  log.started("c|t", 9 * MIN + 50_000, 9 * MIN + 50_000);
  const short = log.started("c|t", 10 * MIN + 5_000, 10 * MIN + 5_000);
  log.finished(short, 10 * MIN + 6_000);
  assert.equal(log.peakConcurrency("c|t", 10, 10 * MIN + 20_000), 2);
  assert.equal(log.peakConcurrency("c|t", 9, 10 * MIN + 20_000), 1);
  assert.equal(log.peakConcurrency("d|t", 10, 11 * MIN), 0, "nothing started: 0");
  // Only the last few minutes are kept.
  log.started("a|t", 20 * MIN, 20 * MIN);
  assert.equal(log.peakConcurrency("a|t", 10, 21 * MIN), 0);
});

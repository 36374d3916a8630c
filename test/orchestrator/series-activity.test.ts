import assert from "node:assert/strict";
import { test } from "node:test";
import { SeriesActivityLog } from "../../src/orchestrator/series-activity.js";

const MIN = 60_000;

/** Routes task `id` of `series` at `at`, starts it `wait` ms later and finishes it `run` ms after that. */
function task(
  log: SeriesActivityLog,
  series: string,
  id: string,
  at: number,
  wait: number,
  run: number,
): void {
  log.routed(series, id, at);
  log.started(id, at + wait);
  log.finished(id, at + wait + run);
}

test("a series' concurrency: the most of its tasks that would have run at once had all started warm", () => {
  const log = new SeriesActivityLog();
  // A cold-start cascade: four arrivals 2 s apart while each waits for its environment (10 s); each
  // task runs 0.5 s once started. Four environments were used, but warm they never overlap.
  for (let i = 0; i < 4; i++) task(log, "a|t", `a${i}`, 10 * MIN + i * 2_000, 10_000 - i * 2_000, 500);
  assert.equal(log.peakConcurrency("a|t", 10, 11 * MIN), 1);
  // A fan-out: three arrivals together, one of them started late by its cold start; they overlap.
  for (let i = 0; i < 3; i++) task(log, "b|t", `b${i}`, 10 * MIN + 30_000, i === 2 ? 10_000 : 0, 2_000);
  assert.equal(log.peakConcurrency("b|t", 10, 11 * MIN), 3);
  assert.equal(log.peakConcurrency("d|t", 10, 11 * MIN), 0, "nothing routed: 0");
});

test("tasks still running count up to now, long tasks from earlier minutes count, starting ones at the median run", () => {
  const log = new SeriesActivityLog();
  // A 150-s task routed at minute 7 is still running when minute 9's task arrives.
  task(log, "c|t", "long", 7 * MIN + 30_000, 0, 150_000);
  log.routed("c|t", "running", 8 * MIN + 50_000);
  log.started("running", 8 * MIN + 50_000);
  task(log, "c|t", "short", 9 * MIN + 5_000, 0, 1_000);
  assert.equal(log.peakConcurrency("c|t", 9, 9 * MIN + 20_000), 3);
  // Six tasks routed in the minute's last seconds are still cold-starting when it is read: each
  // counts with the series' median run (here 20 s), so they overlap.
  for (let i = 0; i < 3; i++) task(log, "e|t", `e${i}`, 20 * MIN + i * 1_000, 0, 20_000);
  for (let i = 0; i < 6; i++) log.routed("e|t", `s${i}`, 21 * MIN + 50_000 + i * 1_000);
  assert.equal(log.peakConcurrency("e|t", 21, 22 * MIN), 6);
  // A task that never ran (its environment failed to start) counts for nothing beyond itself.
  log.finished("s0", 22 * MIN);
  assert.equal(log.peakConcurrency("e|t", 21, 22 * MIN), 5);
  // Only the last few minutes are kept.
  task(log, "c|t", "later", 30 * MIN, 0, 1);
  assert.equal(log.peakConcurrency("c|t", 9, 31 * MIN), 0);
});

test("a new series' fan-out still cold-starting counts by its tasks' expected run time", () => {
  const log = new SeriesActivityLog();
  // Three tasks 40 ms apart, none started when the minute is read: the series has no run time yet.
  for (let i = 0; i < 3; i++) log.routed("n|t", `n${i}`, 5 * MIN + 50_000 + i * 40, 150);
  assert.equal(log.peakConcurrency("n|t", 5, 6 * MIN), 3);
  // Without an estimate they would count for nothing beyond themselves: one at a time.
  for (let i = 0; i < 3; i++) log.routed("m|t", `m${i}`, 5 * MIN + 50_000 + i * 40);
  assert.equal(log.peakConcurrency("m|t", 5, 6 * MIN), 1);
  // An estimate shorter than the gaps between them: no overlap.
  for (let i = 0; i < 3; i++) log.routed("k|t", `k${i}`, 5 * MIN + 50_000 + i * 40, 30);
  assert.equal(log.peakConcurrency("k|t", 5, 6 * MIN), 1);
  // Once a task of the series has run, its median run wins over the estimate — even a 0-ms one.
  task(log, "n|t", "ran", 6 * MIN, 0, 10);
  for (let i = 0; i < 3; i++) log.routed("n|t", `p${i}`, 6 * MIN + 50_000 + i * 40, 150);
  assert.equal(log.peakConcurrency("n|t", 6, 7 * MIN), 1);
  task(log, "z|t", "instant", 6 * MIN, 0, 0);
  for (let i = 0; i < 3; i++) log.routed("z|t", `z${i}`, 6 * MIN + 50_000 + i * 2_000, 30_000);
  assert.equal(log.peakConcurrency("z|t", 6, 7 * MIN), 1);
});

test("a task routed to a dead worker and queued again counts once, by its second routing", () => {
  const log = new SeriesActivityLog();
  // Routed and started at 10:05; its worker was found gone, so it is queued again and routed at 10:20.
  log.routed("r|t", "again", 10 * MIN + 5_000);
  log.started("again", 10 * MIN + 5_000);
  log.unrouted("again");
  log.routed("r|t", "again", 10 * MIN + 20_000);
  log.started("again", 10 * MIN + 21_000);
  task(log, "r|t", "other", 10 * MIN + 30_000, 0, 1_000);
  // Had the first routing stayed, it would count as running since 10:05 and overlap the others.
  assert.equal(log.peakConcurrency("r|t", 10, 10 * MIN + 40_000), 2);
  log.finished("again", 10 * MIN + 22_000);
  assert.equal(log.peakConcurrency("r|t", 10, 10 * MIN + 40_000), 1);
});

test("a task requeued into a later minute leaves its first minute without routings: concurrency 0, no throw", () => {
  const log = new SeriesActivityLog();
  // Its only routing in minute 10 came to nothing; it is routed again in minute 11.
  log.routed("q|t", "late", 10 * MIN + 59_000);
  log.unrouted("late");
  log.routed("q|t", "late", 11 * MIN + 1_000);
  assert.equal(log.peakConcurrency("q|t", 10, 11 * MIN + 2_000), 0);
  assert.equal(log.peakConcurrency("q|t", 11, 11 * MIN + 2_000), 1);
});

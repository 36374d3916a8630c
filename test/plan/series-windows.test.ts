import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type BusySeries,
  type SeriesWindow,
  SeriesWindows,
  staffing,
} from "../../src/plan/series-windows.js";
import { runM1 } from "../../src/sim/m1.js";
import { createForewarm } from "../../src/sim/policies/forewarm.js";
import { TraceBuilder } from "../../src/sim/trace-builder.js";

interface Arrival {
  series: string;
  user: string;
  /** Seconds. */
  at: number;
}

/** A seeded generator of numbers in [0, 1) (the cases' arrivals are fixed by it). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** A seeded mix: timers, a bursty series, sparse series, users sharing series, new series late. */
function arrivals(seed: number): Arrival[] {
  const rnd = lcg(seed);
  const out: Arrival[] = [];
  const add = (series: string, user: string, minute: number) =>
    out.push({ series, user, at: minute * 60 + Math.floor(rnd() * 60) });
  for (let m = 0; m < 600; m += 5) add("alice|tick", "alice", m);
  for (let m = 3; m < 600; m += 17) add("bob|report", "bob", m + Math.floor(rnd() * 3));
  // Bursts: sometimes two arrivals in one minute (the cold-start target counts arrivals).
  for (let m = 0; m < 600; m++)
    if (rnd() < 0.04) for (let k = rnd() < 0.5 ? 2 : 1; k > 0; k--) add("alice|burst", "alice", m);
  for (let m = 0; m < 600; m++) if (rnd() < 0.01) add(`carol|job${Math.floor(rnd() * 4)}`, "carol", m);
  for (let m = 300; m < 600; m += 7) add("dave|late", "dave", m);
  return out.sort((a, b) => a.at - b.at);
}

/** Replay: M1 with the forewarm policy, apps numbered by first appearance (the loaders' rule). */
function replayDecisions(list: Arrival[], params: Record<string, number>): string[] {
  const b = new TraceBuilder(false);
  for (const a of list) b.addInvocation(b.appId(a.series), a.at, 0);
  const trace = b.minuteTrace();
  const users = new Map<string, number>();
  const userOf = new Map(list.map((a) => [a.series, a.user]));
  const appUser = Int32Array.from(trace.appNames, (name) => {
    const u = userOf.get(name)!;
    if (!users.has(u)) users.set(u, users.size);
    return users.get(u)!;
  });
  const policy = createForewarm(params, { appCount: trace.appNames.length, appUser });
  const out: string[] = [];
  runM1(trace, [{ label: "forewarm", policy }], {
    onDecision: (_r, app, minute, d) => out.push(`${trace.appNames[app]}@${minute}:${d.pw}+${d.ka}`),
  });
  return out;
}

/** Live: minutes reported as they end, each minute's series in arrival order. */
function liveDecisions(list: Arrival[], w: SeriesWindows, memoryMb: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < list.length) {
    const minute = Math.floor(list[i]!.at / 60);
    const busy = new Map<string, BusySeries>();
    for (; i < list.length && Math.floor(list[i]!.at / 60) === minute; i++) {
      const a = list[i]!;
      const b = busy.get(a.series) ?? { series: a.series, user: a.user, memoryMb, arrivals: 0 };
      b.arrivals! += 1;
      busy.set(a.series, b);
    }
    for (const d of w.observeMinute(minute, [...busy.values()]))
      out.push(`${d.series}@${d.minute}:${d.pw}+${d.ka}`);
  }
  return out;
}

for (const [price, learner] of [
  [1, {}],
  [60, {}],
  [8, { prior: 8, cond: 0, daily: 0.3, groupWeight: 16 }],
] as const) {
  test(`live series windows make replay's forewarm decisions (price ${price}, ${JSON.stringify(learner)})`, () => {
    const list = arrivals(7);
    const replay = replayDecisions(list, { price, memRef: 256, ...learner });
    const live = liveDecisions(
      list,
      new SeriesWindows({ price, memRefMb: 256, maxSeries: 64, learner }),
      256,
    );
    assert.ok(replay.length > 200, `a meaningful number of decisions (${replay.length})`);
    assert.deepEqual(live, replay);
    // Not all trivial: the policy both pre-warms and unloads somewhere at the higher prices.
    if (price > 1)
      assert.ok(
        live.some((d) => !d.includes(":0+")),
        "some decision pre-warms",
      );
  });
}

test("live series windows make replay's decisions where birth classes decide (300 series born over 3000 minutes)", () => {
  // Enough series for birth-class pools to fill (30 each): born at the start or later, periodic or one-shot.
  const rnd = lcg(3);
  const list: Arrival[] = [];
  for (let k = 0; k < 300; k++) {
    const user = `u${k % 20}`;
    const series = `${user}|t${k}`;
    const born = rnd() < 0.3 ? 0 : Math.floor(rnd() * 3000);
    const period = rnd() < 0.4 ? 0 : 1 + Math.floor(rnd() ** 2 * 200);
    if (period === 0) {
      list.push({ series, user, at: born * 60 + Math.floor(rnd() * 60) });
      if (rnd() < 0.3) list.push({ series, user, at: (born + 1 + Math.floor(rnd() * 500)) * 60 + 1 });
      continue;
    }
    for (let m = born; m < 3500; m += period + Math.floor(rnd() * 3))
      list.push({ series, user, at: m * 60 + Math.floor(rnd() * 60) });
  }
  list.sort((a, b) => a.at - b.at);
  const replay = replayDecisions(list, { price: 30, memRef: 256 });
  const live = liveDecisions(
    list,
    new SeriesWindows({ price: 30, memRefMb: 256, maxSeries: 400, learner: {} }),
    256,
  );
  assert.deepEqual(live, replay);
  // The case exercises birth classes: without them, hundreds of decisions differ.
  const pooled = replayDecisions(list, { price: 30, memRef: 256, birth: 0 });
  assert.ok(replay.filter((d, i) => d !== pooled[i]).length > 100);
});

test("live series windows pad their windows for timing jitter as replay does", () => {
  // 25 hourly series whose every run drifts by up to ±3 minutes from the last: a margin pays.
  const rnd = lcg(21);
  const list: Arrival[] = [];
  for (let k = 0; k < 25; k++) {
    let m = k;
    while (m < 1500) {
      list.push({ series: `u${k % 5}|job${k}`, user: `u${k % 5}`, at: m * 60 + Math.floor(rnd() * 60) });
      m += 60 + Math.round((rnd() * 2 - 1) * 3);
    }
  }
  list.sort((a, b) => a.at - b.at);
  const replay = replayDecisions(list, { price: 4, memRef: 256 });
  const w = new SeriesWindows({ price: 4, memRefMb: 256, maxSeries: 64, learner: {} });
  const live = liveDecisions(list, w, 256);
  assert.deepEqual(live, replay);
  const padded = [...w.windows()].filter((x) => /padded by \d+ min before and \d+ min after/.test(x.reason));
  assert.ok(padded.length > 0, [...w.windows()].map((x) => x.reason).join("\n"));
});

for (const [goal, value] of [
  ["budget", 60],
  ["target", 20],
] as const) {
  test(`live series windows calibrate a ${goal} as replay does (forewarm:${goal}=${value})`, () => {
    const list = arrivals(5);
    const replay = replayDecisions(list, { [goal]: value, calibrateAfter: 30 });
    const w = new SeriesWindows({
      price: 1,
      memRefMb: 1,
      maxSeries: 64,
      calibration: {
        budgetPct: goal === "budget" ? value : 0,
        targetColdPct: goal === "target" ? value : 0,
        after: 30,
        maxInterval: Number.POSITIVE_INFINITY,
        maxEntries: Number.POSITIVE_INFINITY,
      },
    });
    const live = liveDecisions(list, w, 1);
    assert.ok(w.calibrations >= 3, `calibrated ${w.calibrations} times`);
    assert.notEqual(w.price, 1, "the price moved off its starting value");
    assert.deepEqual(live, replay);
  });
}

test("a deferred calibration (live) scores the same past a candidate per turn and finds the same price", async () => {
  const list = arrivals(5);
  const calibration = (deferred: boolean) => ({
    budgetPct: 60,
    targetColdPct: 0,
    after: 30,
    maxInterval: Number.POSITIVE_INFINITY,
    maxEntries: Number.POSITIVE_INFINITY,
    deferred,
  });
  const sync = new SeriesWindows({ price: 1, memRefMb: 1, maxSeries: 64, calibration: calibration(false) });
  const live = new SeriesWindows({ price: 1, memRefMb: 1, maxSeries: 64, calibration: calibration(true) });
  let i = 0;
  let turns = 0;
  const prices: [number, number][] = [];
  while (i < list.length && prices.length < 3) {
    const minute = Math.floor(list[i]!.at / 60);
    const busy = new Map<string, BusySeries>();
    for (; i < list.length && Math.floor(list[i]!.at / 60) === minute; i++) {
      const a = list[i]!;
      busy.set(a.series, { series: a.series, user: a.user, memoryMb: 1 });
    }
    const before = sync.calibrations;
    sync.observeMinute(minute, [...busy.values()]);
    live.observeMinute(minute, [...busy.values()]);
    assert.equal(live.calibrationDue, sync.calibrations > before, `minute ${minute}`);
    if (live.calibrationDue) {
      const p = await live.calibrateDue(async () => {
        turns++;
      });
      prices.push([sync.price, p!]);
      assert.equal(live.price, p);
    }
  }
  assert.equal(prices.length, 3);
  for (const [a, b] of prices) assert.equal(b, a);
  assert.ok(turns >= 3 * 16, `one turn per candidate price (${turns})`);
});

test("a series' price scales with its memory: a 4× larger environment gets shorter windows", () => {
  const list = arrivals(11).filter((a) => a.series === "bob|report");
  const small = liveDecisions(list, new SeriesWindows({ price: 30, memRefMb: 256, maxSeries: 8 }), 256);
  const big = liveDecisions(list, new SeriesWindows({ price: 30, memRefMb: 256, maxSeries: 8 }), 1024);
  const loaded = (ds: string[]) => ds.reduce((s, d) => s + Number(d.split("+")[1]), 0);
  assert.ok(loaded(big) < loaded(small), `${loaded(big)} < ${loaded(small)} loaded minutes`);
});

test("minutes must ascend; series beyond maxSeries stay undecided and are counted", () => {
  const w = new SeriesWindows({ price: 1, memRefMb: 100, maxSeries: 2 });
  const d = w.observeMinute(10, [
    { series: "a|x", user: "a", memoryMb: 100 },
    { series: "b|x", user: "b", memoryMb: 100 },
    { series: "c|x", user: "c", memoryMb: 100 },
  ]);
  assert.deepEqual(
    d.map((x) => x.series),
    ["a|x", "b|x"],
  );
  assert.equal(w.overflow, 1);
  assert.throws(() => w.observeMinute(10, []), /minutes must ascend/);
  // The window is stated in time: loaded minutes (t+pw, t+pw+ka] = [from, until) in ms.
  const x = d[0]!;
  assert.equal(x.from, (10 + x.pw + 1) * 60_000);
  assert.equal(x.until - x.from, x.ka * 60_000);
});

/** Each minute's busy series of `list`, in arrival order. */
function minutesOf(list: Arrival[]): [number, BusySeries[]][] {
  const out: [number, BusySeries[]][] = [];
  for (const a of list) {
    const minute = Math.floor(a.at / 60);
    if (out.at(-1)?.[0] !== minute) out.push([minute, []]);
    const busy = out.at(-1)![1];
    if (!busy.some((s) => s.series === a.series))
      busy.push({ series: a.series, user: a.user, memoryMb: 128, environments: 1 + (a.at % 3) });
  }
  return out;
}

test("learnMinute (relearning) leaves the same latest windows, reasons included, as observeMinute", () => {
  const minutes = minutesOf(arrivals(5));
  const told = new SeriesWindows({ price: 1, memRefMb: 100, maxSeries: 64 });
  const learnt = new SeriesWindows({ price: 1, memRefMb: 100, maxSeries: 64 });
  const half = Math.floor(minutes.length / 2);
  for (const [minute, busy] of minutes.slice(0, half)) {
    told.observeMinute(minute, busy);
    learnt.learnMinute(minute, busy);
  }
  // Read half-way (the unbuilt decisions are built then), then mixed: learnt, then told live.
  assert.deepEqual([...learnt.windows()], [...told.windows()]);
  for (const [k, [minute, busy]] of minutes.slice(half).entries()) {
    told.observeMinute(minute, busy);
    if (k % 2 === 0) learnt.learnMinute(minute, busy);
    else learnt.observeMinute(minute, busy);
  }
  const byName = (w: SeriesWindows) => new Map([...w.windows()].map((x) => [x.series, x]));
  const want = byName(told);
  assert.ok(want.size >= 5);
  assert.deepEqual(byName(learnt), want);
  assert.ok([...want.values()].some((w) => w.pMiss !== null && /P\(miss\)/.test(w.reason)));
});

test("forgetEnded drops learnt decisions whose window has ended before they are ever built", () => {
  const minutes = minutesOf(arrivals(9));
  const told = new SeriesWindows({ price: 1, memRefMb: 100, maxSeries: 64 });
  const learnt = new SeriesWindows({ price: 1, memRefMb: 100, maxSeries: 64 });
  for (const [minute, busy] of minutes) {
    told.observeMinute(minute, busy);
    learnt.learnMinute(minute, busy);
  }
  const all = [...told.windows()];
  // A cut between the windows' ends: some have ended, some not.
  const ends = all.map((w) => w.until).sort((a, b) => a - b);
  const cut = ends[Math.floor(ends.length / 2)]!;
  told.forgetEnded(cut);
  learnt.forgetEnded(cut);
  const kept = [...learnt.windows()];
  assert.ok(kept.length > 0 && kept.length < all.length, `${kept.length} of ${all.length} kept`);
  assert.ok(kept.every((w) => w.until >= cut));
  assert.deepEqual(kept, [...told.windows()]);
});

test("staffing is the newsvendor fractile: cheap short windows hold the most seen lately, dear long ones what is usual", () => {
  const recent = [1, 1, 1, 2, 6];
  assert.equal(staffing(recent, 5, 0, 10), 6, "free memory: the most seen");
  assert.equal(staffing(recent, 5, 0.001, 10), 6, "q = 0.99: the most seen");
  assert.equal(staffing(recent, 5, 0.1, 10), 1, "price·ka = 1, q = 0.5: the median");
  assert.equal(staffing(recent, 5, 0.05, 10), 2, "q = 2/3: the 4th of 5");
  assert.equal(staffing(recent, 5, 1, 0), 6, "no window: the most seen");
  assert.equal(staffing([3], 1, 10, 100), 3, "one minute seen: its concurrency");
  // A window expected to hold 10 busy minutes: each held environment can save a cold start in each.
  assert.equal(staffing(recent, 5, 0.1, 10, 10), 6, "price·ka / busy = 0.1, q = 0.91: the most seen");
  assert.equal(staffing(recent, 5, 0.1, 10, 2), 2, "price·ka / busy = 0.5, q = 2/3: the 4th of 5");
  assert.equal(staffing(recent, 5, 0.1, 10, 0.2), 1, "fewer than one busy minute counts as one");
});

test("a window's staffing counts the busy minutes it is expected to hold: the ring's share of busy minutes × ka", () => {
  const price = 120; // 0.12 cold starts per idle minute of a memRef environment
  const w = new SeriesWindows({ price, memRefMb: 100, maxSeries: 4 });
  const seen: { minute: number; c: number }[] = [];
  let checked = 0;
  let minute = 0;
  for (let k = 0; k < 60; k++) {
    // Busy runs of 1–4 minutes with gaps of 1–3, the concurrency 1 but 5 every fifth busy minute.
    minute += 1 + ((k * 7) % 3);
    const c = k % 5 === 4 ? 5 : 1;
    seen.push({ minute, c });
    const [win] = w.observeMinute(minute, [{ series: "u|x", user: "u", memoryMb: 100, environments: c }]);
    const ring = seen.slice(-16);
    const span = ring.at(-1)!.minute - ring[0]!.minute + 1;
    const sorted = ring.map((r) => r.c).sort((a, b) => a - b);
    const expected = staffing(sorted, sorted.length, price / 1000, win!.ka, (win!.ka * ring.length) / span);
    assert.equal(win!.environments, expected, `minute ${minute} (ka ${win!.ka})`);
    if (win!.ka > 1 && expected !== staffing(sorted, sorted.length, price / 1000, win!.ka)) checked++;
  }
  assert.ok(checked > 0, "some windows hold more than one busy minute would have them hold");

  // A relearn from history without concurrency in some minutes: those still count as busy minutes.
  const learnt = new SeriesWindows({ price: 200, memRefMb: 100, maxSeries: 4 });
  const known: { minute: number; c: number }[] = [];
  const busyMinutes: number[] = [];
  let unknownChecked = 0;
  for (let k = 0; k < 60; k++) {
    const at = 10 * Math.floor(k / 5) + (k % 5); // busy 5 minutes on, 5 off: half the minutes
    busyMinutes.push(at);
    const c = k % 2 === 0 ? undefined : k % 4 === 1 ? 4 : 1;
    if (c !== undefined) known.push({ minute: at, c });
    learnt.learnMinute(at, [{ series: "u|y", user: "u", memoryMb: 100, ...(c ? { environments: c } : {}) }]);
    if (known.length === 0) continue;
    const [win] = [...learnt.windows()];
    const ring = known.slice(-16).map((r) => r.c);
    const sorted = ring.sort((a, b) => a - b);
    const last = busyMinutes.slice(-16);
    const busy = (win!.ka * last.length) / (last.at(-1)! - last[0]! + 1);
    assert.equal(win!.environments, staffing(sorted, sorted.length, 0.2, win!.ka, busy), `minute ${at}`);
    if (k >= 20 && win!.ka > 1) unknownChecked++;
  }
  assert.ok(unknownChecked > 0, "windows longer than a minute were checked");
});

test("a series' window holds its recent concurrency by price: at a dear price it holds what is usual, not the bursts", () => {
  const held = (price: number) => {
    const w = new SeriesWindows({ price, memRefMb: 100, maxSeries: 4 });
    let last: SeriesWindow | undefined;
    // Busy every 3 minutes, 1 task at a time, with a burst of 6 at once every fourth busy minute.
    for (let k = 0; k < 40; k++)
      [last] = w.observeMinute(3 * k, [
        { series: "u|x", user: "u", memoryMb: 100, environments: k % 4 === 3 ? 6 : 1 },
      ]);
    assert.ok(last!.ka > 0, `a window at price ${price} (${last!.pw}+${last!.ka})`);
    return last!.environments;
  };
  assert.equal(held(1), 6, "cheap: the burst is worth holding for");
  assert.equal(held(500), 1, "dear (an idle minute costs a third of a cold start): the usual one");
});

test("busy minutes of unknown concurrency do not count as 1 in a window's staffing", () => {
  const w = new SeriesWindows({ price: 500, memRefMb: 100, maxSeries: 4 });
  let last: SeriesWindow | undefined;
  for (let k = 0; k < 16; k++)
    [last] = w.observeMinute(3 * k, [
      // Unknown: left out, or 0 (live, when none of the minute's tasks was routed in it).
      {
        series: "u|x",
        user: "u",
        memoryMb: 100,
        ...(k < 4 ? { environments: 6 } : k % 3 ? { environments: 0 } : {}),
      },
    ]);
  assert.ok(last!.ka > 0);
  assert.equal(last!.environments, 6, "only the four measured minutes count");
  // A series never measured holds one.
  const [fresh] = w.observeMinute(100, [{ series: "v|x", user: "v", memoryMb: 100 }]);
  assert.equal(fresh!.environments, 1);
});

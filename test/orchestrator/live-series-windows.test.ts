import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { parseConfig } from "../../src/config/config.js";
import { SqliteHistoryStore } from "../../src/history/sqlite-store.js";
import { type Logger, silentLogger } from "../../src/log/logger.js";
import { LiveSeriesWindows, type RecentActivity } from "../../src/orchestrator/live-series-windows.js";
import { emptyRecord } from "../../src/orchestrator/records.js";
import { type BusySeries, SeriesWindows } from "../../src/plan/series-windows.js";
import { runM1 } from "../../src/sim/m1.js";
import { createForewarm } from "../../src/sim/policies/forewarm.js";
import { TraceBuilder } from "../../src/sim/trace-builder.js";
import { routedRecord, task } from "../history/store-suite.js";

const BASE = 29_000_000; // minutes since the epoch

/** A logger that keeps its JSON lines (at `level` and above) for assertions. */
function capturedLog(level: string): { lines: Record<string, unknown>[]; log: Logger } {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: pino({ level }, { write: (line: string) => lines.push(JSON.parse(line)) }) };
}

/** A fresh SQLite history in a temporary directory. */
function freshStore(): SqliteHistoryStore {
  return new SqliteHistoryStore(
    path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fw-windows-")), "history.db"),
  );
}
const quiet: RecentActivity = {
  seriesActivity: () => new Map(),
  arrivalCounts: () => new Map(),
  oldestMinuteBeingAccepted: () => null,
  peakConcurrency: () => 0,
};

/** Second 1 of minute BASE + m, in ms since the epoch. */
const at = (m: number) => (BASE + m) * 60_000 + 1_000;

/**
 * The orchestrator's recent activity as the windows read it: user u's series of task `types`, each
 * with one arrival (concurrency 1) in the minutes (after BASE) where `busy` says so.
 */
function activityOf(
  types: readonly string[],
  busy: (type: string, minute: number) => boolean,
): RecentActivity {
  const spec = { runtime: "node" as const, dependencies: [], resources: parseConfig({}).defaults.resources };
  return {
    seriesActivity: () =>
      new Map(
        types.map((t) => [`u|${t}`, { user: "u", taskType: t, spec, modulePath: "m.mjs", lastArrival: 0 }]),
      ),
    arrivalCounts: (m) => new Map(types.filter((t) => busy(t, m - BASE)).map((t) => [`u|${t}`, 1])),
    oldestMinuteBeingAccepted: () => null,
    peakConcurrency: () => 1,
  };
}

/** Seeded arrivals of five series of three users over 600 minutes (ms since the epoch). */
function arrivals(): { series: string; user: string; type: string; at: number }[] {
  let s = 9;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const out: { series: string; user: string; type: string; at: number }[] = [];
  const add = (user: string, type: string, m: number) =>
    out.push({ series: `${user}|${type}`, user, type, at: (BASE + m) * 60_000 + Math.floor(rnd() * 60_000) });
  for (let m = 0; m < 600; m += 6) add("alice", "tick", m);
  for (let m = 2; m < 600; m += 19) add("bob", "report", m + Math.floor(rnd() * 3));
  for (let m = 0; m < 600; m++) if (rnd() < 0.05) add("alice", "burst", m);
  for (let m = 0; m < 600; m++) if (rnd() < 0.02) add("carol", rnd() < 0.5 ? "a" : "b", m);
  return out.sort((a, b) => a.at - b.at);
}

/** A fresh store holding `arrivals()` as tasks. */
async function storeOfArrivals(): Promise<{ store: SqliteHistoryStore; list: ReturnType<typeof arrivals> }> {
  const store = freshStore();
  const list = arrivals();
  for (const [i, a] of list.entries())
    await store.insertTask(emptyRecord(task(`t${i}`, a.user, a.type, a.at)));
  return { store, list };
}

test("after a restart the windows relearn the history window from the store: each series' latest decision is replay's", async () => {
  const { store, list } = await storeOfArrivals();
  try {
    const config = parseConfig({
      prediction: { windowPolicy: "forewarm", windowMinutes: 2000, forewarm: { price: 30, memRefMb: 256 } },
    });
    const live = new LiveSeriesWindows(config.prediction, quiet, store, silentLogger(), 256);
    assert.deepEqual([...live.latest()], [], "nothing is planned before the history is relearned");
    await live.rebuild((BASE + 601) * 60_000);

    const got = new Map([...live.latest()].map((w) => [w.series, `${w.minute}:${w.pw}+${w.ka}`]));
    assert.equal(got.size, 5);
    assert.deepEqual(got, replayLatest(list, 30));
    await live.refreshing;
  } finally {
    await store.close();
  }
});

/**
 * Each series' latest M1 replay decision on the arrivals as they came (apps numbered by first arrival):
 * the store keeps each minute's earliest arrival, so a relearn's order is this one, not series names'.
 */
function replayLatest(list: ReturnType<typeof arrivals>, price: number): Map<string, string> {
  const b = new TraceBuilder(false);
  for (const a of list) b.addInvocation(b.appId(a.series), a.at / 1000, 0);
  const trace = b.minuteTrace();
  const users = new Map<string, number>();
  const appUser = Int32Array.from(trace.appNames, (name) => {
    const u = name.split("|")[0]!;
    if (!users.has(u)) users.set(u, users.size);
    return users.get(u)!;
  });
  const expected = new Map<string, string>();
  runM1(
    trace,
    [{ label: "fw", policy: createForewarm({ price }, { appCount: trace.appNames.length, appUser }) }],
    {
      onDecision: (_r, app, minute, d) => expected.set(trace.appNames[app]!, `${minute}:${d.pw}+${d.ka}`),
    },
  );
  return expected;
}

/** A 2000-minute history window whose start relearns its last 120 minutes first. */
const quickConfig = () =>
  parseConfig({
    prediction: {
      windowPolicy: "forewarm",
      windowMinutes: 2000,
      forewarm: { price: 30, memRefMb: 256, quickRelearnMinutes: 120 },
    },
  });

test("a start with a long history plans from its last quickRelearnMinutes first, then swaps in the whole window's learner", async () => {
  const { store, list } = await storeOfArrivals();
  try {
    const config = quickConfig();
    const { lines, log } = capturedLog("info");
    const live = new LiveSeriesWindows(config.prediction, quiet, store, log, 256);
    await live.rebuild((BASE + 601) * 60_000);
    assert.ok(live.ready, "windows are served after the quick pass");
    const quick = new Map([...live.latest()].map((w) => [w.series, `${w.minute}:${w.pw}+${w.ka}`]));
    await live.refreshing;
    const rebuilt = lines.filter((l) => l.event === "windows_rebuilt");
    assert.deepEqual(
      rebuilt.map((l) => l.minutes),
      [120, 2000],
      "the last 120 minutes first, then the whole window",
    );
    assert.ok(
      (rebuilt[0]!.busyMinutes as number) < (rebuilt[1]!.busyMinutes as number) / 3,
      "the quick pass learns only its minutes",
    );
    // Then, as after a whole relearn: replay's decisions on the whole history.
    const expected = replayLatest(list, 30);
    const got = new Map([...live.latest()].map((w) => [w.series, `${w.minute}:${w.pw}+${w.ka}`]));
    assert.deepEqual(got, expected);
    // The quick learner saw a fifth of the history: some series' window differs (else this proves nothing).
    assert.ok(
      [...expected].some(([series, d]) => quick.get(series) !== d),
      "the quick windows are not already the whole window's",
    );
  } finally {
    await store.close();
  }
});

test("a whole-window relearn that fails after the quick pass is retried by a later planning cycle", async () => {
  const { store, list } = await storeOfArrivals();
  try {
    const config = quickConfig();
    // The store fails the first read of minutes before the quick pass's (the background relearn's).
    const quickFrom = BASE + 601 - 1 - 120;
    let failures = 0;
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== "rollups") return Reflect.get(target, prop, receiver);
        return (q: { fromMinute: number; toMinute: number }) => {
          if (q.fromMinute < quickFrom && failures === 0) {
            failures++;
            return Promise.reject(new Error("disk hiccup"));
          }
          return target.rollups(q);
        };
      },
    });
    const { lines, log } = capturedLog("warn");
    const live = new LiveSeriesWindows(config.prediction, quiet, flaky, log, 256);
    const now = (BASE + 601) * 60_000;
    await live.rebuild(now);
    await live.refreshing;
    assert.equal(failures, 1);
    assert.deepEqual(
      lines.map((l) => [l.event, l.retryInMs]),
      [["windows_refresh_failed", 60_000]],
    );
    assert.ok(live.ready, "the quick pass's windows go on");
    // Not before the retry time; then a planning cycle starts it and the whole window's learner comes in.
    live.observeEndedMinutes(now + 30_000);
    assert.equal(live.refreshing, null);
    live.observeEndedMinutes(now + 61_000);
    assert.ok(live.refreshing, "a cycle after the retry time relearns the whole window");
    await live.refreshing;
    const got = new Map([...live.latest()].map((w) => [w.series, `${w.minute}:${w.pw}+${w.ka}`]));
    assert.deepEqual(got, replayLatest(list, 30));
  } finally {
    await store.close();
  }
});

test("a store that fails while relearning leaves the windows empty but working", async () => {
  const failing = {
    rollups: () => Promise.reject(new Error("disk on fire")),
  } as unknown as SqliteHistoryStore;
  const config = parseConfig({ prediction: { windowPolicy: "forewarm" } });
  const live = new LiveSeriesWindows(config.prediction, quiet, failing, silentLogger(), 256);
  await live.rebuild(BASE * 60_000);
  // Minutes are observed from now on: nothing to decide yet, and no throw.
  live.observeEndedMinutes((BASE + 3) * 60_000);
  assert.deepEqual([...live.latest()], []);
});

test("a minute is decided only once the tasks that arrived in it are accepted: one accepted late still counts", async () => {
  // Minute 1 has one arrival of u|a, still being analysed and recorded when the minute ends; it was
  // then routed in minute 2, so routing saw no concurrency in minute 1.
  let accepted = false;
  const base = activityOf(["a"], (_t, m) => m === 1 && accepted);
  const activity: RecentActivity = {
    ...base,
    oldestMinuteBeingAccepted: () => (accepted ? null : BASE + 1),
    peakConcurrency: () => 0,
  };
  const config = parseConfig({ prediction: { windowPolicy: "forewarm" } });
  const store = { rollups: () => Promise.resolve([]) } as unknown as SqliteHistoryStore;
  const live = new LiveSeriesWindows(config.prediction, activity, store, silentLogger(), 256);
  await live.rebuild(at(1));
  live.observeEndedMinutes(at(2));
  live.observeEndedMinutes(at(2) + 30_000);
  assert.equal(live.decisions.length, 0, "minute 1 waits for its task");
  accepted = true;
  live.observeEndedMinutes(at(3));
  const decided = live.decisions.map((w) => ({
    series: w.series,
    minute: w.minute,
    environments: w.environments,
  }));
  assert.deepEqual(decided, [{ series: "u|a", minute: BASE + 1, environments: 1 }]);
  assert.ok(
    [...live.latest()].some((w) => w.series === "u|a" && w.ka > 0),
    "its window keeps it loaded",
  );
});

test("a relearn stops before a minute whose tasks are still being accepted; the live path decides it once they are in", async () => {
  // The history has nothing of minute 1 yet: its task is still being analysed and recorded.
  let accepted = false;
  const activity: RecentActivity = {
    ...activityOf(["a"], (_t, m) => m === 1 && accepted),
    oldestMinuteBeingAccepted: () => (accepted ? null : BASE + 1),
  };
  const config = parseConfig({ prediction: { windowPolicy: "forewarm" } });
  const store = { rollups: () => Promise.resolve([]) } as unknown as SqliteHistoryStore;
  const live = new LiveSeriesWindows(config.prediction, activity, store, silentLogger(), 256);
  // Started (or refreshed) at minute 3: it would read minutes up to 2 from the history.
  await live.rebuild(at(3));
  accepted = true;
  live.observeEndedMinutes(at(3) + 1_000);
  assert.deepEqual(
    live.decisions.map((w) => [w.series, w.minute]),
    [["u|a", BASE + 1]],
  );
});

test("series beyond maxSeries stay reactive, and the log says so (at 1, 2, 4 … refused busy minutes)", () => {
  const { lines, log } = capturedLog("warn");
  const busy = activityOf(["a", "b", "c"], () => true);
  const config = parseConfig({ prediction: { windowPolicy: "forewarm", forewarm: { maxSeries: 2 } } });
  const store = { rollups: () => Promise.resolve([]) } as unknown as SqliteHistoryStore;
  const live = new LiveSeriesWindows(config.prediction, busy, store, log, 256);
  return live.rebuild(at(0)).then(() => {
    for (let m = 1; m <= 5; m++) live.observeEndedMinutes(at(m));
    // Minutes 0–4 ended: the third series was refused in each of them.
    assert.equal(live.overflow, 5);
    assert.deepEqual(
      [...live.latest()].map((w) => w.series),
      ["u|a", "u|b"],
    );
    const warned = lines.filter((l) => l.event === "windows_series_full").map((l) => l.refusedBusyMinutes);
    assert.deepEqual(warned, [1, 2, 4]);
  });
});

test("leading again relearns from the history: a second rebuild starts a fresh learner, not a refused one", async () => {
  const store = freshStore();
  const { lines, log } = capturedLog("warn");
  try {
    const list = arrivals().filter((a) => a.at < (BASE + 300) * 60_000);
    for (const [i, a] of list.entries())
      await store.insertTask(emptyRecord(task(`t${i}`, a.user, a.type, a.at)));
    const config = parseConfig({ prediction: { windowPolicy: "forewarm", windowMinutes: 2000 } });
    const live = new LiveSeriesWindows(config.prediction, quiet, store, log, 256);
    await live.rebuild((BASE + 200) * 60_000);
    const early = [...live.latest()].map((w) => `${w.series}@${w.minute}`);
    // Leadership lost, then regained 100 minutes later: the history now reaches minute 299.
    await live.rebuild((BASE + 300) * 60_000);
    assert.deepEqual(lines, [], "no rebuild failed");
    const late = [...live.latest()];
    assert.ok(late.length >= early.length);
    assert.ok(
      late.some((w) => w.minute >= BASE + 200),
      "what happened while following was learnt",
    );
    // The first start's background relearn was superseded; the second's completes without a warning.
    await live.refreshing;
    assert.deepEqual(lines, [], "no background relearn failed");
  } finally {
    await store.close();
  }
});

test("relearning orders series that first arrive in the same minute by arrival, as live numbered them", async () => {
  const store = freshStore();
  try {
    // zed arrives 5 s into minute 10, amy 40 s in: by name amy would come first.
    await store.insertTask(emptyRecord(task("a", "amy", "t", (BASE + 10) * 60_000 + 40_000)));
    await store.insertTask(emptyRecord(task("z", "zed", "t", (BASE + 10) * 60_000 + 5_000)));
    await store.insertTask(emptyRecord(task("z2", "zed", "t", (BASE + 12) * 60_000)));
    const config = parseConfig({ prediction: { windowPolicy: "forewarm", windowMinutes: 100 } });
    const live = new LiveSeriesWindows(config.prediction, quiet, store, silentLogger(), 256);
    await live.rebuild((BASE + 20) * 60_000);
    // latest() lists series in the order the learner first decided them.
    assert.deepEqual(
      [...live.latest()].map((w) => w.series),
      ["zed|t", "amy|t"],
    );
  } finally {
    await store.close();
  }
});

test("relearning a long history yields to the event loop (requests are served meanwhile)", async () => {
  const store = freshStore();
  try {
    // 3 series busy every minute for 2,500 minutes: 7,500 busy series-minutes, over three slices.
    for (let m = 0; m < 2_500; m++)
      for (const u of ["a", "b", "c"])
        await store.insertTask(emptyRecord(task(`${u}${m}`, u, "t", (BASE + m) * 60_000 + 1_000)));
    // The whole window in one pass (the quick first pass has its own test).
    const config = parseConfig({
      prediction: { windowPolicy: "forewarm", windowMinutes: 5_000, forewarm: { quickRelearnMinutes: 0 } },
    });
    const live = new LiveSeriesWindows(config.prediction, quiet, store, silentLogger(), 256);
    let turns = 0;
    let spinning = true;
    const spin = () => {
      if (!spinning) return;
      turns++;
      setImmediate(spin);
    };
    spin();
    await live.rebuild((BASE + 2_501) * 60_000);
    spinning = false;
    assert.ok(turns >= 4, `the event loop turned ${turns} times during the relearn`);
    assert.equal([...live.latest()].length, 3);
  } finally {
    await store.close();
  }
});

test("relearning prices each series by the memory its arrivals were routed for, as live does", async () => {
  const store = freshStore();
  try {
    // Two users with the same irregular arrivals; bob's tasks were routed for 8× the memory.
    let s = 5;
    const gaps: number[] = [];
    for (let i = 0; i < 40; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      gaps.push(1 + Math.floor((s / 2 ** 31) * 45));
    }
    const memory = { ann: 256, bob: 2048 } as const;
    let m = 0;
    const busy: { minute: number; series: BusySeries[] }[] = [];
    for (const [i, g] of gaps.entries()) {
      m += g;
      const minute = BASE + m;
      const here: BusySeries[] = [];
      for (const user of ["ann", "bob"] as const) {
        const at = minute * 60_000 + (user === "ann" ? 1_000 : 2_000);
        await store.insertTask(routedRecord(task(`${user}${i}`, user, "t", at), memory[user]));
        here.push({ series: `${user}|t`, user, memoryMb: memory[user], arrivals: 1 });
      }
      busy.push({ minute, series: here });
    }
    const config = parseConfig({ prediction: { windowPolicy: "forewarm", windowMinutes: 5_000 } });
    const fw = config.prediction.forewarm;
    // What live decides on these busy minutes with each series' routed memory.
    const direct = new SeriesWindows({ price: fw.price, memRefMb: fw.memRefMb, maxSeries: 10 });
    for (const b of busy) direct.observeMinute(b.minute, b.series);
    const want = new Map([...direct.windows()].map((w) => [w.series, `${w.pw}+${w.ka}`]));
    assert.notEqual(
      want.get("ann|t"),
      want.get("bob|t"),
      "the price must matter for this test to mean anything",
    );
    const live = new LiveSeriesWindows(config.prediction, quiet, store, silentLogger(), 256);
    await live.rebuild((BASE + m + 1) * 60_000);
    assert.deepEqual(new Map([...live.latest()].map((w) => [w.series, `${w.pw}+${w.ka}`])), want);
    // The whole window's learner (swapped in after the quick pass) prices them alike.
    await live.refreshing;
    assert.deepEqual(new Map([...live.latest()].map((w) => [w.series, `${w.pw}+${w.ka}`])), want);
  } finally {
    await store.close();
  }
});

test("minutes that end while relearning are read too; a cancelled relearn leaves the windows empty", async () => {
  const store = freshStore();
  const { lines, log } = capturedLog("info");
  try {
    for (let m = 0; m <= 110; m += 2)
      await store.insertTask(emptyRecord(task(`t${m}`, "u", "t", (BASE + m) * 60_000 + 1_000)));
    const config = parseConfig({ prediction: { windowPolicy: "forewarm", windowMinutes: 500 } });
    // Started at minute 100; by the time the first pass is done the clock says minute 111.
    const live = new LiveSeriesWindows(config.prediction, quiet, store, log, 256);
    await live.rebuild((BASE + 100) * 60_000, () => (BASE + 111) * 60_000);
    assert.deepEqual(
      [...live.latest()].map((w) => w.minute),
      [BASE + 110],
      "the busy minutes up to 110 were learnt",
    );
    // A relearn cancelled while it runs (leadership lost) does not finish.
    const other = new LiveSeriesWindows(config.prediction, quiet, store, log, 256);
    const running = other.rebuild((BASE + 100) * 60_000);
    other.cancel();
    await running;
    assert.equal(other.ready, false);
    assert.deepEqual([...other.latest()], []);
    assert.equal(lines.filter((l) => l.event === "windows_rebuilt").length, 1, "only the first finished");
  } finally {
    await store.close();
  }
});

test("a full learner relearns in the background to free the series quiet for longer than the history window; the windows go on meanwhile", async () => {
  const store = freshStore();
  const { lines, log } = capturedLog("info");
  try {
    // a and b were busy in minutes 0–21; c first arrives at minute 200, long after both went quiet.
    for (let m = 0; m <= 20; m += 2) await store.insertTask(emptyRecord(task(`a${m}`, "u", "a", at(m))));
    for (let m = 1; m <= 21; m += 4) await store.insertTask(emptyRecord(task(`b${m}`, "u", "b", at(m))));
    for (const m of [200, 203]) await store.insertTask(emptyRecord(task(`c${m}`, "u", "c", at(m))));
    const config = parseConfig({
      prediction: { windowPolicy: "forewarm", windowMinutes: 100, forewarm: { maxSeries: 2 } },
    });
    // The orchestrator's recent counts: c busy in minutes 200 and 203.
    const activity = activityOf(["c"], (_t, m) => m === 200 || m === 203);
    const live = new LiveSeriesWindows(config.prediction, activity, store, log, 256);
    await live.rebuild(at(22));
    assert.equal(live.overflow, 0);

    // Minute 200 ends: c is refused (a and b fill the learner), and both have been quiet > 100 min.
    live.observeEndedMinutes(at(201));
    assert.equal(live.overflow, 1);
    assert.ok(live.refreshing, "a relearn to free quiet series started");
    assert.equal(live.ready, true, "the current windows go on while it runs");
    await live.refreshing;
    assert.deepEqual(
      [...live.latest()].map((w) => `${w.series}@${w.minute - BASE}`),
      ["u|c@200"],
      "the relearnt learner holds c, not a and b",
    );
    assert.equal(live.overflow, 0);
    // Minute 203 is decided live by the new learner.
    live.observeEndedMinutes(at(204));
    assert.deepEqual(
      [...live.latest()].map((w) => `${w.series}@${w.minute - BASE}`),
      ["u|c@203"],
    );
    assert.equal(live.overflow, 0);
    const recycled = lines.filter((l) => l.event === "windows_recycling");
    assert.deepEqual(
      recycled.map((l) => l.quietSeries),
      [2],
    );
  } finally {
    await store.close();
  }
});

test("recycling counts as quiet only series a relearn would drop, and still works after leadership was lost and regained", async () => {
  const store = freshStore();
  const { lines, log } = capturedLog("info");
  const recycled = () => lines.filter((l) => l.event === "windows_recycling").map((l) => l.quietSeries);
  try {
    // The window is 100 minutes. a last busy at minute 100, b at 99, c in minutes 200–399, d at 280,
    // e at 420.
    await store.insertTask(emptyRecord(task("a", "u", "a", at(100))));
    await store.insertTask(emptyRecord(task("b", "u", "b", at(99))));
    for (let m = 200; m < 400; m += 5) await store.insertTask(emptyRecord(task(`c${m}`, "u", "c", at(m))));
    await store.insertTask(emptyRecord(task("d", "u", "d", at(280))));
    await store.insertTask(emptyRecord(task("e", "u", "e", at(420))));
    const config = parseConfig({
      prediction: { windowPolicy: "forewarm", windowMinutes: 100, forewarm: { maxSeries: 2 } },
    });
    const activity = activityOf(["c", "e", "f"], (type, m) =>
      type === "c" ? m >= 200 && m < 400 && m % 5 === 0 : type === "f" ? m === 203 : m === 420,
    );
    const live = new LiveSeriesWindows(config.prediction, activity, store, log, 256);
    await live.rebuild(at(151));
    // Minute 200 ends: c refused. A relearn now reads minutes 100–200: b (99) would go, a (100) not.
    live.observeEndedMinutes(at(201));
    assert.equal(live.overflow, 1);
    assert.deepEqual(recycled(), [1], "b is quiet (its minute 99 is before the window), a is not");
    await live.refreshing;
    assert.equal(live.overflow, 0);
    assert.ok(
      [...live.latest()].some((w) => w.series === "u|c"),
      "c has a window",
    );
    // f, once at minute 203, is refused: within the hour of the last relearn, so none starts.
    for (let m = 202; m <= 206; m++) live.observeEndedMinutes(at(m));
    assert.equal(live.overflow, 1);
    assert.equal(live.refreshing, null);

    // Leadership lost, regained at minute 300: a fresh learner holds c and d (minutes 199–299).
    live.cancel();
    await live.rebuild(at(300));
    assert.equal(live.overflow, 0);
    // Minute 420 ends: e refused once; d has been quiet since 280, before the window (320–420).
    for (let m = 301; m <= 421; m++) live.observeEndedMinutes(at(m));
    assert.equal(live.overflow, 1);
    assert.deepEqual(recycled(), [1, 1], "the new learner's first refusal is looked at");
    await live.refreshing;
    assert.deepEqual([...live.latest()].map((w) => w.series).sort(), ["u|c", "u|e"]);
  } finally {
    await store.close();
  }
});

test("relearning starts each series' staffing from the concurrency the store recorded, not from 1", async () => {
  const store = freshStore();
  try {
    // A series busy every 5 minutes, 6 of its tasks at once each time.
    for (let m = 0; m <= 100; m += 5) {
      await store.insertTask(emptyRecord(task(`t${m}`, "u", "t", at(m))));
      await store.recordConcurrency("u", "t", BASE + m, 6);
    }
    const config = parseConfig({
      prediction: { windowPolicy: "forewarm", windowMinutes: 500, forewarm: { price: 40, memRefMb: 256 } },
    });
    const live = new LiveSeriesWindows(config.prediction, quiet, store, silentLogger(), 256);
    await live.rebuild(at(101));
    const [w] = [...live.latest()];
    assert.ok(w && w.ka > 0, "a window after minute 100");
    assert.equal(w.environments, 6);
  } finally {
    await store.close();
  }
});

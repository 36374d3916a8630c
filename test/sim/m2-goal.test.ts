import assert from "node:assert/strict";
import { test } from "node:test";
import { runM1 } from "../../src/sim/m1.js";
import { runM2Oracle } from "../../src/sim/m2-oracle.js";
import { parsePolicySpec } from "../../src/sim/policies/registry.js";
import type { M1Policy } from "../../src/sim/policies/types.js";
import { PolicyWindows } from "../../src/sim/policy-windows.js";
import { replayLoaded } from "../../src/sim/run.js";
import type { LoadedTrace } from "../../src/sim/trace.js";
import { TraceBuilder } from "../../src/sim/trace-builder.js";
import { loadOnce } from "./traces.js";

function hybridPolicy(apps: number): M1Policy {
  const spec = parsePolicySpec("hybrid");
  return spec.definition.create(spec.params, { appCount: apps }) as M1Policy;
}

test("the M2 oracle: the tasks of an app's first instant start cold, every other one warm, nothing idle", async () => {
  const events = (await loadOnce("azure2021")).events!;
  const o = runM2Oracle(events, "oracle", 1);
  // Counted here without the oracle's code: per app, the arrivals at its earliest start.
  const first = new Map<number, number>();
  for (let i = 0; i < events.app.length; i++)
    first.set(events.app[i]!, Math.min(first.get(events.app[i]!) ?? Infinity, events.start[i]!));
  let expected = 0;
  for (let i = 0; i < events.app.length; i++) if (events.start[i] === first.get(events.app[i]!)) expected++;
  assert.equal(o.coldStarts, expected);
  assert.ok(expected >= events.appNames.length, "at least one per app");
  assert.equal(o.warm, events.app.length - expected);
  assert.equal(o.wastedMbS, 0);
  assert.equal(o.bound, true);
  assert.equal(o.startLatency.max, 1, "cold ones wait L");
});

test("M2's hybrid asks the M1 policy the M1 question in M1's order: its windows are M1's decisions, holding the app's recent peak", async () => {
  const loaded = await loadOnce("azure2019");
  const trace = loaded.minutes;
  const n = trace.appNames.length;
  const m1 = new Map<string, { pw: number; ka: number }>();
  const m1Asked: string[] = [];
  runM1(trace, [{ label: "hybrid", policy: hybridPolicy(n) }], {
    onDecision: (_r, app, minute, d) => {
      m1.set(`${app}@${minute}`, { pw: d.pw, ka: d.ka });
      m1Asked.push(`${app}@${minute}`);
    },
  });
  // The busy minutes in time order; each minute's apps reported in reverse (the adapter restores the order).
  const byMinute = new Map<number, number[]>();
  for (let a = 0; a < n; a++)
    for (let i = trace.appOffset[a]!; i < trace.appOffset[a + 1]!; i++) {
      const apps = byMinute.get(trace.busyMinute[i]!) ?? [];
      apps.unshift(a);
      byMinute.set(trace.busyMinute[i]!, apps);
    }
  // The policy as the adapter sees it: who it is asked about, in what order.
  const inner = hybridPolicy(n);
  const asked: string[] = [];
  const recording: M1Policy = {
    kind: "causal",
    afterBusyMinute: (app, minute, count) => {
      asked.push(`${app}@${minute}`);
      return inner.afterBusyMinute(app, minute, count);
    },
  };
  const appOf = (series: string) => Number(series.slice(1));
  const windows = new PolicyWindows(recording, "hybrid", n, appOf);
  const concurrency = (app: number, minute: number) => 1 + ((app * 31 + minute * 7) % 5);
  const seen = new Map<number, number[]>();
  let compared = 0;
  let prewarmed = 0;
  for (const minute of [...byMinute.keys()].sort((x, y) => x - y)) {
    const apps = byMinute.get(minute)!;
    windows.learnMinute(
      minute,
      apps.map((a) => ({ series: `a${a}`, user: "", memoryMb: 1, environments: concurrency(a, minute) })),
    );
    for (const a of apps) seen.set(a, [...(seen.get(a) ?? []), concurrency(a, minute)].slice(-16));
    for (const w of windows.windows()) {
      if (w.minute !== minute) continue;
      const app = appOf(w.series);
      assert.deepEqual({ pw: w.pw, ka: w.ka }, m1.get(`${app}@${minute}`), `${w.series}@${minute}`);
      assert.equal(w.from, (minute + w.pw + 1) * 60_000);
      assert.equal(w.until, w.from + w.ka * 60_000);
      assert.equal(w.environments, Math.max(...seen.get(app)!), "the most of its last 16 busy minutes");
      compared++;
      if (w.pw > 0) prewarmed++;
    }
  }
  assert.equal(compared, m1.size, "every M1 decision has its window");
  assert.deepEqual(asked, m1Asked, "asked about the same apps, by the trace's numbers, in M1's order");
  assert.ok(prewarmed > 0, "some windows pre-warm (start after a gap)");
});

/** One app arriving every `period` minutes `n` times (1-second tasks), as a loaded trace. */
function periodic(period: number, n: number): LoadedTrace {
  const b = new TraceBuilder(true);
  const id = b.appId("clock");
  for (let k = 0; k < n; k++) b.addInvocation(id, k * period * 60 + 5, 1);
  b.addMemory(id, 100);
  return { minutes: b.minuteTrace(), events: b.eventTrace()!, skippedLines: 0, notes: [] };
}

test("in M2 the hybrid histogram pre-warms a clockwork app: as warm as fixed 60 for a fraction of its idle memory", () => {
  const result = replayLoaded(periodic(30, 40), {
    policies: "fixed:ka=10,fixed:ka=60,hybrid,oracle",
    model: "m2",
  });
  const [, fixed60, hybrid, oracle] = result.m2!;
  // A 30-minute clock: fixed 10 misses every arrival, fixed 60 keeps every one warm at ~29 idle minutes
  // a gap; hybrid learns the gap (5 idle times) and loads only around it.
  assert.equal(oracle!.coldStarts, 1);
  assert.equal(fixed60!.coldStarts, 1);
  // Its first five idle times it keeps the whole 4-hour range (warm, dear); then it loads around the gap.
  assert.equal(hybrid!.coldStarts, 1);
  assert.ok(hybrid!.wastedMbS < fixed60!.wastedMbS / 2, `${hybrid!.wastedMbS} vs ${fixed60!.wastedMbS}`);
  // Held against itself: the goal's ratios are 1 on waste and 0 ÷ 0 = 0 on avoidable cold starts.
  assert.deepEqual(hybrid!.goal, { avoidable: 0, waste: 1, meets: false, worseThanFixed10: false });
  assert.equal(oracle!.avoidableColdStarts, 0);
  assert.equal(oracle!.goal!.meets, false, "a bound never meets the goal (0 / 0 would)");
  assert.equal(fixed60!.avoidableColdStarts, 0);
  assert.equal(fixed60!.goal!.avoidable, 0);
});

test("an M2 replay with hybrid holds every run against the goal, with the oracle and fixed 10 run implicitly", async () => {
  const loaded = await loadOnce("azure2021");
  const alone = replayLoaded(loaded, { policies: "hybrid,fixed:ka=1", model: "m2" }).m2!;
  const listed = replayLoaded(loaded, { policies: "oracle,fixed:ka=10,hybrid,fixed:ka=1", model: "m2" }).m2!;
  assert.deepEqual(
    alone.map((s) => s.name),
    ["hybrid", "fixed:ka=1"],
    "the implicit runs are not reported",
  );
  const oracle = listed[0]!;
  const hybrid = listed[2]!;
  for (const [i, s] of alone.entries()) {
    assert.deepEqual(s.goal, listed[i + 2]!.goal, s.name);
    assert.equal(s.avoidableColdStarts, s.coldStarts - oracle.coldStarts);
  }
  const f1 = alone[1]!;
  assert.equal(f1.goal!.waste, f1.wastedMbS / hybrid.wastedMbS);
  assert.equal(
    f1.goal!.avoidable,
    (f1.coldStarts - oracle.coldStarts) / (hybrid.coldStarts - oracle.coldStarts),
  );
  // With a cold-start latency the implicit references run with it too: the same standings as listed ones.
  const slow = { model: "m2" as const, coldStartSeconds: 2 };
  const slowAlone = replayLoaded(loaded, { ...slow, policies: "hybrid,fixed:ka=1" }).m2!;
  const slowListed = replayLoaded(loaded, { ...slow, policies: "oracle,fixed:ka=10,hybrid,fixed:ka=1" }).m2!;
  assert.deepEqual(
    slowAlone.map((s) => s.goal),
    slowListed.slice(2).map((s) => s.goal),
  );
  assert.notDeepEqual(slowListed[1]!.coldStarts, listed[1]!.coldStarts, "the latency changes fixed 10's run");
  // Without hybrid nothing is held against the goal (M2 runs no planner replay unasked).
  assert.equal(replayLoaded(loaded, { policies: "fixed:ka=1", model: "m2" }).m2![0]!.goal, undefined);
});

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { atomsFrom } from "../../src/plan/idle-distribution.js";
import { chooseWindowInto, emptyChoice } from "../../src/plan/window-policy.js";
import { m1Json } from "../../src/sim/format.js";
import { type M1Score, runM1 } from "../../src/sim/m1.js";
import { parsePolicySpec } from "../../src/sim/policies/registry.js";
import type { AnyM1Policy, PolicyContext } from "../../src/sim/policies/types.js";
import { replayLoaded } from "../../src/sim/run.js";
import type { MinuteTrace } from "../../src/sim/trace.js";
import { mulberry32 } from "../random.js";
import { loadOnce } from "./traces.js";

/** A trace of one app per list of busy minutes (ascending), one invocation each. */
function traceOf(apps: number[][], memory?: number[]): MinuteTrace {
  const appOffset = new Int32Array(apps.length + 1);
  apps.forEach((m, a) => {
    appOffset[a + 1] = appOffset[a]! + m.length;
  });
  const busyMinute = Int32Array.from(apps.flat());
  return {
    appNames: apps.map((_, a) => `app${a}`),
    appMemoryMb: Float64Array.from(memory ?? apps.map(() => 1)),
    appOffset,
    busyMinute,
    busyCount: new Float64Array(busyMinute.length).fill(1),
    invocations: busyMinute.length,
  };
}

function policy(text: string, context: PolicyContext): AnyM1Policy {
  const spec = parsePolicySpec(text);
  spec.definition.check?.(spec.params, spec.label);
  return spec.definition.create(spec.params, context);
}

test("hindsight (in-sample) holds each app's best single window, the window after its last busy minute included", () => {
  for (const seed of [1, 2, 3]) {
    const rnd = mulberry32(seed);
    // Gaps from a mixture (a timer around 6 minutes and rare long pauses), as a real app's.
    const minutes = [0];
    for (let i = 0; i < 40; i++)
      minutes.push(minutes.at(-1)! + (rnd() < 0.8 ? 5 + Math.floor(rnd() * 3) : 20 + Math.floor(rnd() * 25)));
    const maxGap = Math.max(...minutes.slice(1).map((m, i) => m - minutes[i]!));
    // A second app, busy once `after` minutes after the first one's last busy minute, ends the trace:
    // the first app's last window is charged up to then.
    for (const after of [0, 3, 30])
      for (const [price, memory] of [
        [20, 100],
        [60, 100],
        [20, 400], // 4× the memory: the window of price 80
      ] as const) {
        const trace = traceOf([minutes, [minutes.at(-1)! + after]], [memory, 100]);
        const context: PolicyContext = { appCount: 2, appMemoryMb: trace.appMemoryMb };
        // Forewarm's price unit: price/1000 cold starts per idle minute of a 100 MB app.
        const unit = price / 1000 / 100;
        const cost = (s: M1Score) => s.coldStarts + unit * s.wastedMbMin;
        const [h] = runM1(trace, [{ label: "h", policy: policy(`hindsight:price=${price}`, context) }]);
        // Every constant window of the first app (longer ones only add idle time); the second holds nothing.
        let best = Number.POSITIVE_INFINITY;
        for (let pw = 0; pw <= maxGap; pw++)
          for (let ka = 0; pw + ka <= maxGap; ka++) {
            const fixed: AnyM1Policy = {
              kind: "causal",
              afterBusyMinute: (app) => (app === 0 ? { pw, ka } : { pw: 0, ka: 0 }),
            };
            const [s] = runM1(trace, [{ label: "c", policy: fixed }]);
            best = Math.min(best, cost(s!));
          }
        assert.ok(
          Math.abs(cost(h!) - best) < 1e-9,
          `seed ${seed} after ${after} price ${price}: hindsight ${cost(h!)} vs best ${best}`,
        );
      }
  }
  // Busy at 0, 1 and 31, the trace ending 169 minutes later: one minute held (pw 29, ka 1) beats
  // catching both gaps, whose window would idle 30 minutes after the last busy minute too.
  const trace = traceOf([[0, 1, 31], [200]]);
  const [h] = runM1(trace, [{ label: "h", policy: policy("hindsight:price=25", { appCount: 2 }) }]);
  assert.deepEqual([h!.coldStarts, h!.wastedMbMin], [3, 1]);
  // Gaps 30, 50, 30, 50 and the trace ends at the last busy minute: the last window costs nothing, so
  // holding (29, 50] for both gaps (40 idle minutes) beats catching the 50s alone (two misses).
  const ends = traceOf([[0, 30, 80, 110, 160]]);
  const [e] = runM1(ends, [{ label: "h", policy: policy("hindsight:price=40", { appCount: 1 }) }]);
  assert.deepEqual([e!.coldStarts, e!.wastedMbMin], [1, 40]);
});

/**
 * The loo / tod / prev distributions built the plain way for one decision: the app's gaps over the
 * whole trace but `without` (the gap that follows; −1 none), mixed (n/(n + 2)) with those that
 * followed busy minutes of the same condition: the slot of the day (tod), or the class of the gap
 * before (prev; "none" for the first busy minute). `by` "" = no condition.
 */
function referenceWindow(trace: MinuteTrace, app: number, minute: number, without: number, by: string) {
  const from = trace.appOffset[app]!;
  const ms = Array.from(trace.busyMinute.subarray(from, trace.appOffset[app + 1]!));
  const condition = (i: number): string => {
    if (by === "tod=3") return String(Math.floor(((ms[i]! % 1440) * 3) / 1440));
    if (by === "prev=1") return i === 0 ? "none" : String(Math.round(2 * Math.log2(ms[i]! - ms[i - 1]!)));
    return "";
  };
  const here = condition(ms.indexOf(minute));
  const all = new Map<number, number>();
  const slot = new Map<number, number>();
  for (let i = 1; i < ms.length; i++) {
    const g = ms[i]! - ms[i - 1]!;
    all.set(g, (all.get(g) ?? 0) + 1);
    if (by !== "" && condition(i - 1) === here) slot.set(g, (slot.get(g) ?? 0) + 1);
  }
  for (const m of [all, slot]) if (m.has(without)) m.set(without, m.get(without)! - 1);
  const total = [...all.values()].reduce((a, b) => a + b, 0);
  const slotTotal = [...slot.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return { pw: 0, ka: 0 };
  const share = by !== "" ? slotTotal / (slotTotal + 2) : 0;
  const pairs: [number, number][] = [];
  for (const [g, c] of [...all].sort((x, y) => x[0] - y[0])) {
    let p = ((1 - share) * c) / total;
    if (slotTotal > 0 && slot.has(g)) p += (share * slot.get(g)!) / slotTotal;
    if (p > 0) pairs.push([g, p]);
  }
  const c = chooseWindowInto(
    atomsFrom(pairs, 0),
    0,
    { coldPenalty: 1, price: 0.02, maxEnd: Infinity },
    emptyChoice(),
  );
  return { pw: c.pw, ka: c.ka };
}

test("hindsight loo=1, loo=1,tod=B and loo=1,prev=1 decide every minute as the plain leave-one-out reference", () => {
  const rnd = mulberry32(7);
  // Apps busy at a few times of day over 6 days, with jitter: gaps repeat, slots and previous gaps differ.
  const apps: number[][] = [];
  for (let a = 0; a < 5; a++) {
    const times = Array.from({ length: 1 + a }, () => Math.floor(rnd() * 1440));
    const minutes = new Set<number>();
    for (let d = 0; d < 6; d++)
      for (const t of times) if (rnd() < 0.8) minutes.add(d * 1440 + t + Math.floor(rnd() * 3) * 20);
    apps.push([...minutes].sort((x, y) => x - y));
  }
  const trace = traceOf(apps);
  const next = new Map<string, number>();
  apps.forEach((ms, a) => {
    ms.forEach((m, i) => {
      if (i + 1 < ms.length) next.set(`${a}:${m}`, ms[i + 1]! - m);
    });
  });
  for (const by of ["", "tod=3", "prev=1"]) {
    const text = `hindsight:loo=1,price=20${by ? `,${by}` : ""}`;
    let checked = 0;
    let conditioned = 0;
    runM1(trace, [{ label: text, policy: policy(text, { appCount: apps.length }) }], {
      onDecision: (_r, app, minute, d) => {
        const want = referenceWindow(trace, app, minute, next.get(`${app}:${minute}`) ?? -1, by);
        assert.deepEqual({ pw: d.pw, ka: d.ka }, want, `${text}: app ${app} minute ${minute}`);
        const plain = referenceWindow(trace, app, minute, next.get(`${app}:${minute}`) ?? -1, "");
        if (want.pw !== plain.pw || want.ka !== plain.ka) conditioned++;
        checked++;
      },
    });
    assert.equal(checked, trace.busyMinute.length);
    // The condition matters here: some windows differ from the unconditioned ones.
    if (by !== "") assert.ok(conditioned > 0, `${text}: no decision changed by the condition`);
  }
});

test("hindsight loo=1 leaves out the gap it predicts; in-sample does not", () => {
  // app0: one gap only; app1: a clockwork timer every 5 minutes.
  const trace = traceOf([
    [0, 37],
    [0, 5, 10, 15, 20, 25, 30, 35],
  ]);
  const context: PolicyContext = { appCount: 2 };
  const [inSample, loo] = runM1(trace, [
    { label: "in", policy: policy("hindsight", context) },
    { label: "loo", policy: policy("hindsight:loo=1", context) },
  ]);
  assert.equal(inSample!.avoidableColdStarts, 0);
  assert.equal(inSample!.wastedMbMin, 0, "a single known gap is pre-warmed exactly");
  // Without its one gap app0 knows nothing and holds nothing; app1's timer is still known.
  assert.equal(loo!.avoidableColdStarts, 1);
});

test("hindsight tod=2 knows a daily rhythm that the whole-trace distribution blurs", () => {
  // Busy at 09:00 and 17:00 every day for 12 days: 480 minutes after the morning, 960 after the evening.
  const minutes: number[] = [];
  for (let d = 0; d < 12; d++) minutes.push(d * 1440 + 540, d * 1440 + 1020);
  const trace = traceOf([minutes]);
  const context: PolicyContext = { appCount: 1 };
  // Dear memory: holding from 480 to 960 is not worth it, so one window cannot catch both gaps.
  const [plain, tod] = runM1(trace, [
    { label: "loo", policy: policy("hindsight:loo=1,price=20", context) },
    { label: "tod", policy: policy("hindsight:loo=1,tod=2,price=20", context) },
  ]);
  assert.ok(
    plain!.avoidableColdStarts >= 11,
    `plain misses one gap of each day: ${plain!.avoidableColdStarts}`,
  );
  assert.equal(tod!.avoidableColdStarts, 0);
  assert.ok(tod!.wastedMbMin < plain!.wastedMbMin);
});

test("hindsight parameters are checked by name", () => {
  const context: PolicyContext = { appCount: 1 };
  assert.throws(() => policy("hindsight:loo=2", context), /loo must be 0 or 1/);
  assert.throws(() => policy("hindsight:tod=6", context), /tod needs loo=1/);
  assert.throws(() => policy("hindsight:loo=1,tod=2.5", context), /tod must be a whole number/);
  assert.throws(() => policy("hindsight:prev=1", context), /prev needs loo=1/);
  assert.throws(() => policy("hindsight:loo=1,prev=1,tod=4", context), /tod or prev, not both/);
});

test("replay marks bounds: JSON rows and decision-log lines of oracle and hindsight say bound", async () => {
  const loaded = await loadOnce("azure2019");
  const file = join(mkdtempSync(join(tmpdir(), "forewarm-bound-")), "decisions.jsonl");
  const result = replayLoaded(loaded, {
    policies: "hybrid,oracle,hindsight:price=2,forewarm",
    decisionsFile: file,
    untilMinute: 700,
  });
  assert.deepEqual(
    m1Json(result.m1!).map((r) => [(r as { name: string }).name, (r as { bound: boolean }).bound]),
    [
      ["hybrid", false],
      ["oracle", true],
      ["hindsight:price=2", true],
      ["forewarm", false],
    ],
  );
  const bound = new Map<string, Set<boolean>>();
  for (const line of readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")) {
    const d = JSON.parse(line) as { policy: string; bound?: boolean };
    bound.set(d.policy, (bound.get(d.policy) ?? new Set()).add(d.bound === true));
  }
  assert.deepEqual(
    [...bound].map(([p, b]) => [p, [...b]]),
    [
      ["hybrid", [false]],
      ["oracle", [true]],
      ["hindsight:price=2", [true]],
      ["forewarm", [false]],
    ],
  );
});

/**
 * Planning-cycle time of the pure ShadowPlanner for 10k and 100k series, retrain (fit) time of the
 * two base forecasters for 10k series, and the default forewarm window path (deciding a minute's busy
 * series, planning from every series' window) at 10k and 100k series. Prints per-series costs side by side.
 * Run: npm run bench:planner
 */
import { type EnvironmentSpec, specKey } from "../src/core/types.js";
import type { Forecast, Forecaster, SeriesHistory } from "../src/forecast/forecaster.js";
import { InterArrivalForecaster } from "../src/forecast/models/interarrival.js";
import { SeasonalProfileForecaster } from "../src/forecast/models/seasonal-profile.js";
import { type BusySeries, SeriesWindows } from "../src/plan/series-windows.js";
import { PLANNER_DEFAULTS, planShadows, type SeriesTemplate, seriesKey } from "../src/plan/shadow-planner.js";
import { planFromWindows } from "../src/plan/window-planner.js";

let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

/** A mix of shapes: timers, sparse Poisson, dense daily. Two days of minutes each. */
function history(i: number): SeriesHistory {
  const n = 2 * 1440;
  const a = new Float64Array(n);
  const kind = i % 3;
  const period = 5 + (i % 55);
  for (let m = 0; m < n; m++) {
    if (kind === 0) a[m] = m % period === 0 ? 1 : 0;
    else if (kind === 1) a[m] = rnd() < 0.02 ? 1 : 0;
    else a[m] = rnd() < 0.3 + 0.3 * Math.sin((2 * Math.PI * m) / 1440) ? 1 + Math.floor(rnd() * 3) : 0;
  }
  a[0] = 1;
  return { user: `u${i}`, taskType: "t", startMinute: 0, arrivals: a };
}

function time<T>(f: () => T): [T, number] {
  const t = performance.now();
  const v = f();
  return [v, performance.now() - t];
}

const spec: EnvironmentSpec = {
  runtime: "node",
  dependencies: [],
  resources: { cpu: 0.25, memoryMb: 128, storageMb: 0, networkMbps: 0 },
};
const N_FIT = Number(process.env.BENCH_SERIES ?? 10_000);

console.log(`building ${N_FIT} synthetic series (2 days of minutes each)…`);
const histories = Array.from({ length: N_FIT }, (_, i) => history(i));

const models: [string, Forecaster][] = [
  ["interarrival", new InterArrivalForecaster()],
  ["seasonal", new SeasonalProfileForecaster()],
];
console.log("\nretrain (fit every series), 10k series:");
console.log("model         total ms   µs/series");
const fitted = new Map<string, ReturnType<Forecaster["fit"]>[]>();
for (const [name, f] of models) {
  const [ms, dt] = time(() => histories.map((h) => f.fit(h)));
  fitted.set(name, ms);
  console.log(
    `${name.padEnd(12)} ${dt.toFixed(0).padStart(9)} ${((dt * 1000) / N_FIT).toFixed(1).padStart(11)}`,
  );
}

console.log("\npredict (60-minute horizon) per series:");
for (const [name] of models) {
  const ms = fitted.get(name)!;
  const [, dt] = time(() => ms.map((m) => m.predict({ fromMinute: 2 * 1440, horizon: 60, level: 0.8 })));
  console.log(
    `${name.padEnd(12)} ${dt.toFixed(0).padStart(9)} ms ${((dt * 1000) / N_FIT).toFixed(1).padStart(9)} µs/series`,
  );
}

/** Forecasts for the planner: replicate the fitted ones to 100k series. */
const base = fitted
  .get("interarrival")!
  .map((m) => m.predict({ fromMinute: 2 * 1440, horizon: 60, level: 0.8 }));
console.log("\nplanning cycle of the pure planner:");
console.log("series      plan ms   µs/series   desired");
for (const n of [10_000, 100_000]) {
  const forecasts: Forecast[] = [];
  const templates = new Map<string, SeriesTemplate>();
  for (let i = 0; i < n; i++) {
    const f = { ...base[i % base.length]!, user: `u${i}` };
    forecasts.push(f);
    templates.set(seriesKey(f.user, "t"), { user: f.user, taskType: "t", spec });
  }
  const input = {
    now: 2 * 1440 * 60_000,
    forecasts,
    templates,
    leadMs: new Map([[specKey(spec), 500]]),
    pool: {
      now: 2 * 1440 * 60_000,
      environments: [],
      capacity: { cpu: 4096, memoryMb: 1 << 22, maxEnvironments: 20_000 },
    },
    config: PLANNER_DEFAULTS,
  };
  planShadows(input); // warm the JIT
  const [plan, dt] = time(() => planShadows(input));
  console.log(
    `${String(n).padStart(7)} ${dt.toFixed(0).padStart(11)} ${((dt * 1000) / n).toFixed(2).padStart(11)} ${String(plan.desired.length).padStart(9)}`,
  );
}

// The default live path (windowPolicy "forewarm"): each minute the learner decides the series busy in
// it (SeriesWindows.observeMinute), and every planIntervalMs planFromWindows plans from the latest
// window of every series. Series here: timers of 5–59 minutes and sparse Poisson arrivals (2 % of
// minutes), two days learnt first; then one more minute is decided and one cycle planned.
console.log("\nforewarm windows (the default): deciding one minute's busy series, and one planning cycle:");
console.log(
  "series   learn 2 days s   µs/busy   busy now   decide ms   µs/busy   plan ms   µs/series   desired",
);
for (const n of [10_000, 100_000]) {
  const windows = new SeriesWindows({ price: 1, memRefMb: 100, maxSeries: n });
  const busyAt = (i: number, m: number): boolean =>
    i % 2 === 0 ? m % (5 + (i % 55)) === i % 5 : rnd() < 0.02;
  const busy = (m: number): BusySeries[] => {
    const out: BusySeries[] = [];
    for (let i = 0; i < n; i++)
      if (busyAt(i, m)) out.push({ series: seriesKey(`u${i}`, "t"), user: `u${i}`, memoryMb: 128 });
    return out;
  };
  const last = 2 * 1440;
  // The relearn a restart does (src/orchestrator/live-series-windows.ts), here without yielding.
  let learnt = 0;
  const [, learnMs] = time(() => {
    for (let m = 0; m < last; m++) {
      const b = busy(m);
      learnt += b.length;
      windows.learnMinute(m, b);
    }
  });
  const now = busy(last);
  const [, decideMs] = time(() => windows.observeMinute(last, now));
  const templates = new Map<string, SeriesTemplate>();
  for (let i = 0; i < n; i++) templates.set(seriesKey(`u${i}`, "t"), { user: `u${i}`, taskType: "t", spec });
  const at = (last + 1) * 60_000 + 5_000;
  const input = {
    now: at,
    windows: [...windows.windows()],
    busyNow: new Map<string, number>(),
    templates,
    forecasts: new Map<string, Forecast>(),
    leadMs: new Map([[specKey(spec), 500]]),
    pool: { now: at, environments: [], capacity: { cpu: 4096, memoryMb: 1 << 22, maxEnvironments: 20_000 } },
    config: { ...PLANNER_DEFAULTS, windowPolicy: "forewarm" as const },
  };
  planFromWindows(input); // warm the JIT
  const [plan, planMs] = time(() => planFromWindows(input));
  console.log(
    `${String(n).padStart(7)} ${(learnMs / 1000).toFixed(1).padStart(16)} ${((learnMs * 1000) / learnt).toFixed(1).padStart(9)} ${String(now.length).padStart(10)} ${decideMs.toFixed(1).padStart(11)} ${((decideMs * 1000) / Math.max(1, now.length)).toFixed(1).padStart(9)} ${planMs.toFixed(0).padStart(9)} ${((planMs * 1000) / n).toFixed(2).padStart(11)} ${String(plan.desired.length).padStart(9)}`,
  );
}

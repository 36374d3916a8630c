/**
 * Forecasting benchmark (issue 5).
 * 1. Fit and predict time per series for each model on a sample of Azure 2019 series (6 h history).
 * 2. A retrain of N series (default 10,000, Google 2011 (user, job) series, last day of history each)
 *    with the fast models and with `auto`: total time against the 60 s target.
 * 3. The global LSTM over the Azure sample within a time budget.
 * Usage: node dist/bench/forecast.js [--series N] [--lstm-budget-ms MS] [--sample N]
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { SeriesHistory } from "../src/forecast/forecaster.js";
import { LstmForecaster } from "../src/forecast/models/lstm.js";
import { createForecaster, prepareForecasters } from "../src/forecast/registry.js";
import { traceSeries } from "../src/forecast/series.js";
import { classifySeries } from "../src/forecast/shape.js";
import { loadTrace } from "../src/sim/loaders/index.js";

const { values: args } = parseArgs({
  options: {
    series: { type: "string", default: "10000" },
    "lstm-budget-ms": { type: "string", default: "20000" },
    sample: { type: "string", default: "60" },
  },
});
const RETRAIN_SERIES = Number(args.series);
const LSTM_BUDGET_MS = Number(args["lstm-budget-ms"]);
const SAMPLE = Number(args.sample);

function projectRoot(): string {
  const fromFile = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  return existsSync(join(fromFile, "package.json")) ? fromFile : process.cwd();
}
const traces = resolve(projectRoot(), "../shared/traces");
const ms = (x: number) => `${x.toFixed(2)} ms`;

// 1. Per-model times on Azure series (half dense, half not).
const azure = await loadTrace({
  format: "azure2019",
  invocations: join(traces, "azure2019-500fn-8h/invocations.csv"),
});
const azureHistories = traceSeries(azure.minutes).map((s) => s.history(480, 840));
const dense = azureHistories.filter((h) => classifySeries(h) === "dense").slice(0, SAMPLE / 2);
const sparse = azureHistories.filter((h) => classifySeries(h) !== "dense").slice(0, SAMPLE / 2);
const sample = [...dense, ...sparse];
const MODELS = [
  "snaive",
  "rate",
  "tsb",
  "croston",
  "interarrival",
  "ets",
  "mstl",
  "prophet",
  "cycle",
  "auto",
];
await prepareForecasters([...MODELS, "lstm"]);
console.log(
  `1. per series, Azure 2019, 360 min history, ${dense.length} dense + ${sparse.length} other series`,
);
console.log("model         fit/series   predict(60 min)/series  failed");
for (const name of MODELS) {
  const f = createForecaster(name);
  let fitMs = 0;
  let predictMs = 0;
  let failed = 0;
  for (const h of sample) {
    const t0 = performance.now();
    try {
      const m = f.fit(h);
      const t1 = performance.now();
      m.predict({ fromMinute: 840, horizon: 60, level: 0.8 });
      predictMs += performance.now() - t1;
      fitMs += t1 - t0;
    } catch {
      fitMs += performance.now() - t0;
      failed++;
    }
  }
  console.log(
    `${name.padEnd(12)}  ${ms(fitMs / sample.length).padStart(10)}   ${ms(predictMs / sample.length).padStart(12)}            ${failed}`,
  );
}

// 3. LSTM: one global fit over the sample within the budget.
{
  const lstm = new LstmForecaster({ timeBudgetMs: LSTM_BUDGET_MS });
  const t0 = performance.now();
  const fitted = lstm.fitMany(sample);
  const fitMs = performance.now() - t0;
  const t1 = performance.now();
  for (const m of fitted.values()) m.predict({ fromMinute: 840, horizon: 60, level: 0.8 });
  const predictMs = performance.now() - t1;
  console.log(
    `lstm (global, budget ${LSTM_BUDGET_MS} ms): fit ${ms(fitMs)} for ${fitted.size} series ` +
      `(${ms(fitMs / fitted.size)}/series), predict ${ms(predictMs / fitted.size)}/series, ` +
      `within budget: ${fitMs <= LSTM_BUDGET_MS * 1.1 ? "yes" : "no"}`,
  );
}

// 2. Retrain of N series: Google (user, job) series with arrivals in the two days before minute 7200.
const google = await loadTrace({
  format: "google2011-jobs",
  trace: join(traces, "google2011-jobs-days01-07.csv.gz"),
});
const HISTORY = 2880;
const active = traceSeries(google.minutes).filter(
  (s) => s.lastBusyMinute >= 7200 - HISTORY && s.firstBusyMinute < 7200,
);
const retrain: SeriesHistory[] = [];
for (let i = 0; retrain.length < RETRAIN_SERIES && active.length > 0; i++) {
  // Fewer series than asked: cycle through them again (each fit is independent).
  retrain.push(active[i % active.length]!.history(7200 - HISTORY, 7200));
}
const unique = Math.min(active.length, retrain.length);
console.log(
  `\n2. retrain of ${retrain.length} series (${unique} distinct Google 2011 (user, job) series with arrivals ` +
    `in the ${HISTORY} min before minute 7200), fit + predict 60 min`,
);
for (const name of ["tsb", "interarrival", "snaive", "cycle", "auto"]) {
  const f = createForecaster(name);
  const t0 = performance.now();
  let failed = 0;
  for (const h of retrain) {
    try {
      f.fit(h).predict({ fromMinute: 7200, horizon: 60, level: 0.8 });
    } catch {
      failed++;
    }
  }
  const total = performance.now() - t0;
  console.log(
    `${name.padEnd(12)}  total ${(total / 1000).toFixed(2)} s  (${ms(total / retrain.length)}/series, ${failed} failed)` +
      `  within 60 s: ${total <= 60_000 ? "yes" : "no"}`,
  );
}

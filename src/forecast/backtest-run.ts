import { AutoForecaster } from "./auto.js";
import {
  addSums,
  type BacktestInput,
  type BacktestOptions,
  backtestSeries,
  canFitMany,
  emptySums,
  type MetricSums,
  type Metrics,
  prefitMany,
  type SeriesBacktest,
  summarise,
} from "./backtest.js";
import { createForecaster } from "./registry.js";
import { type SeriesShape, SHAPES } from "./shape.js";

export interface ModelReport {
  model: string;
  all: Metrics;
  byShape: Partial<Record<SeriesShape, Metrics>>;
  /** For auto: how often each model was chosen (per series and origin). */
  chosen: Record<string, number>;
  fitMsPerSeries: number;
  predictMsPerSeries: number;
}

export interface BacktestRun {
  options: BacktestOptions;
  shapes: Record<SeriesShape, number>;
  models: ModelReport[];
  /** Per model, per series results (for reports). */
  series: Map<string, SeriesBacktest[]>;
}

const keyOf = (i: BacktestInput): string => `${i.history.user}\u0000${i.history.taskType}`;

/**
 * Backtests every named model on every input with the same origins. `onProgress(done, total)` counts
 * (model, series) pairs.
 */
export function runBacktest(
  models: string[],
  inputs: BacktestInput[],
  options: BacktestOptions,
  onProgress?: (done: number, total: number, model: string) => void,
): BacktestRun {
  const shapes = Object.fromEntries(SHAPES.map((s) => [s, 0])) as Record<SeriesShape, number>;
  for (const i of inputs) if (i.shape) shapes[i.shape]++;
  const reports: ModelReport[] = [];
  const series = new Map<string, SeriesBacktest[]>();
  const total = models.length * inputs.length;
  let done = 0;
  for (const name of models) {
    const forecaster = createForecaster(name);
    const lookup = canFitMany(forecaster) ? prefitMany(forecaster, inputs, options) : undefined;
    const chosenName =
      forecaster instanceof AutoForecaster ? () => forecaster.lastChoice?.chosen ?? undefined : undefined;
    const all = emptySums();
    const byShape = new Map<SeriesShape, MetricSums>();
    const chosen: Record<string, number> = {};
    const results: SeriesBacktest[] = [];
    let fitMs = 0;
    let predictMs = 0;
    for (const input of inputs) {
      const key = keyOf(input);
      const r = backtestSeries(
        forecaster,
        input,
        options,
        lookup ? (origin) => lookup(key, origin) : undefined,
        chosenName,
      );
      results.push(r);
      addSums(all, r.sums);
      const s = byShape.get(r.shape) ?? emptySums();
      addSums(s, r.sums);
      byShape.set(r.shape, s);
      for (const c of r.chosen) chosen[c] = (chosen[c] ?? 0) + 1;
      fitMs += r.fitMs;
      predictMs += r.predictMs;
      onProgress?.(++done, total, name);
    }
    series.set(name, results);
    reports.push({
      model: name,
      all: summarise(all),
      byShape: Object.fromEntries([...byShape].map(([k, v]) => [k, summarise(v)])),
      chosen,
      fitMsPerSeries: inputs.length ? fitMs / inputs.length : 0,
      predictMsPerSeries: inputs.length ? predictMs / inputs.length : 0,
    });
  }
  return { options, shapes, models: reports, series };
}

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "–");

/** A plain-text table: one row per model (all series), then one per model and shape class. */
export function backtestTable(run: BacktestRun): string {
  const header = [
    "model",
    "shape",
    "series",
    "failed",
    "MASE",
    "sPinball",
    "cover80",
    "cover95",
    "PIT80",
    "PIT95",
    `Brier@${run.options.eventMinutes}m`,
    "precision",
    "recall",
    "fit ms/series",
  ];
  const rows: string[][] = [header];
  const row = (model: string, shape: string, m: Metrics, fitMs: string): string[] => [
    model,
    shape,
    String(m.series),
    String(m.failed),
    fmt(m.mase),
    fmt(m.pinball),
    pct(m.coverage80),
    pct(m.coverage95),
    pct(m.pitCoverage80),
    pct(m.pitCoverage95),
    fmt(m.brier, 4),
    pct(m.precision),
    pct(m.recall),
    fitMs,
  ];
  for (const r of run.models) rows.push(row(r.model, "all", r.all, fmt(r.fitMsPerSeries, 1)));
  for (const shape of SHAPES)
    for (const r of run.models) {
      const m = r.byShape[shape];
      if (m) rows.push(row(r.model, shape, m, ""));
    }
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)));
  const out = rows.map((r) => line(r).join("  "));
  out.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const auto = run.models.find((m) => m.model === "auto");
  if (auto) {
    const picks = Object.entries(auto.chosen)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    out.push("", `auto chose (series × origins): ${picks}`);
  }
  return out.join("\n");
}

export function backtestJson(run: BacktestRun): unknown {
  return {
    options: run.options,
    shapes: run.shapes,
    models: run.models,
  };
}

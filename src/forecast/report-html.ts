import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { SeriesBacktest } from "./backtest.js";
import type { BacktestRun } from "./backtest-run.js";

export interface ReportSeries {
  title: string;
  /** Minutes of the first origin's horizon. */
  minutes: number[];
  actual: number[];
  /** Per model: expected, lower and upper (80 %). */
  models: Array<{ model: string; expected: number[]; lower: number[]; upper: number[] }>;
}

const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/**
 * Picks the series to plot: the busiest dense ones and the ones where `focus` (auto, when run) did
 * worst on MASE, and collects every model's first-origin forecast for them.
 */
export function reportSeries(run: BacktestRun, focus: string, count = 6): ReportSeries[] {
  const main = run.series.get(focus) ?? [...run.series.values()][0] ?? [];
  const volume = (r: SeriesBacktest) => r.actual.reduce((a, b) => a + b, 0);
  const scored = main.filter((r) => r.firstForecast && r.sums.maseSeries > 0);
  const busiest = [...scored].sort((a, b) => volume(b) - volume(a)).slice(0, Math.ceil(count / 2));
  const worst = [...scored]
    .filter((r) => !busiest.includes(r))
    .sort((a, b) => b.sums.maseSum - a.sums.maseSum)
    .slice(0, count - busiest.length);
  return [...busiest.map((r) => ["busiest", r] as const), ...worst.map((r) => ["worst", r] as const)].map(
    ([why, r]) => {
      const f0 = r.firstForecast!;
      const models: ReportSeries["models"] = [];
      for (const [model, results] of run.series) {
        const f = results.find((x) => x.key === r.key)?.firstForecast;
        if (!f) continue;
        models.push({
          model: model === focus ? `${model} (${f.model})` : model,
          expected: f.minutes.map((m) => m.arrivals.expected),
          lower: f.minutes.map((m) => m.arrivals.lower),
          upper: f.minutes.map((m) => m.arrivals.upper),
        });
      }
      return {
        title: `${why} ${focus}: ${r.key.replace("\u0000", " / ")} (${r.shape}, MASE ${r.sums.maseSum.toFixed(2)})`,
        minutes: f0.minutes.map((m) => m.minute),
        actual: r.actual,
        models,
      };
    },
  );
}

/** A self-contained HTML page (uPlot inlined): actual against each model's forecast with 80 % bounds. */
export function writeForecastReport(
  file: string,
  title: string,
  table: string,
  series: ReportSeries[],
): void {
  const require = createRequire(import.meta.url);
  const js = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
  const css = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  const data = JSON.stringify({ series, colors: COLORS }).replace(/</g, "\\u003c");
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${css}\nbody{font-family:system-ui,sans-serif;margin:24px}pre{font-size:12px}</style>
<script>${js}</script></head><body><h1>${esc(title)}</h1><pre>${esc(table)}</pre><div id="plots"></div>
<script>
const D = ${data};
for (const s of D.series) {
  const h = document.createElement("h3"); h.textContent = s.title; document.getElementById("plots").append(h);
  const el = document.createElement("div"); document.getElementById("plots").append(el);
  const cols = [s.minutes, s.actual];
  const opts = [{}, { label: "actual", stroke: "#000", width: 2 }];
  s.models.forEach((m, i) => {
    const c = D.colors[i % D.colors.length];
    cols.push(m.expected, m.lower, m.upper);
    opts.push({ label: m.model, stroke: c }, { label: m.model + " lo80", stroke: c, dash: [4, 4], show: i === 0 },
      { label: m.model + " hi80", stroke: c, dash: [4, 4], show: i === 0 });
  });
  new uPlot({ width: 1000, height: 300, scales: { x: { time: false } }, series: opts }, cols, el);
}
</script></body></html>`;
  writeFileSync(file, html);
}

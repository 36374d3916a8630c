import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { launchChromium } from "./browser.js";

const run = promisify(execFile);
const cli = path.resolve("dist/src/cli/main.js");
const traces = path.resolve("../shared/traces");

/** Opens a self-contained HTML report in headless Chromium; returns its errors and chart count. */
async function render(
  file: string,
  screenshot: string,
): Promise<{ errors: string[]; canvases: number; title: string }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(`file://${file}`);
    await page.waitForSelector("canvas", { timeout: 10_000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    return { errors, canvases: await page.locator("canvas").count(), title: await page.title() };
  } finally {
    await browser.close();
  }
}

/** The CLI with `args`; its stdout. */
async function forewarm(...args: string[]): Promise<string> {
  return (await run(process.execPath, [cli, ...args])).stdout;
}

const AZURE2021 = ["--format", "azure2021", "--trace", path.join(traces, "azure2021-example.csv")];

/** `forewarm replay` of the azure2021 example with `args`, its M1 report written to `file`. */
async function replayReport(file: string, ...args: string[]): Promise<void> {
  await forewarm("replay", ...AZURE2021, ...args, "--report", file);
}

/** The data a report's charts are drawn from (embedded in the page as `const D`). */
function chartData<T>(file: string): T {
  return JSON.parse(/const D = (.*);\n/.exec(fs.readFileSync(file, "utf8"))![1]!) as T;
}

test("the replay report renders its Pareto plot and per-app CDFs in a browser, without errors", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-report-"));
  const file = path.join(dir, "replay.html");
  await replayReport(file, "--policies", "fixed:ka=10,fixed:ka=60,hybrid,oracle,forewarm");
  const r = await render(file, path.join(dir, "replay.png"));
  assert.deepEqual(r.errors, []);
  assert.ok(r.canvases >= 2, `expected the Pareto and CDF charts, found ${r.canvases} canvases`);
  const html = fs.readFileSync(file, "utf8");
  for (const p of ["fixed:ka=10", "hybrid", "oracle", "forewarm", "goal: ½ hybrid"])
    assert.ok(html.includes(p), `report names ${p}`);
  assert.ok(!html.includes("(reference)"), "listed references are plotted once, as listed");

  // Without hybrid or fixed 10 listed, both are still plotted (as references) with the goal point.
  const alone = path.join(dir, "alone.html");
  await replayReport(alone, "--policies", "forewarm", "--sweep", "price=1..4:1");
  const a = await render(alone, path.join(dir, "alone.png"));
  assert.deepEqual(a.errors, []);
  const aloneHtml = fs.readFileSync(alone, "utf8");
  for (const p of ["hybrid (reference)", "fixed:ka=10 (reference)", "goal: ½ hybrid"])
    assert.ok(aloneHtml.includes(p), `report names ${p}`);
});

test("the forecast report renders actual-vs-forecast charts with intervals in a browser, without errors", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-fcreport-"));
  const file = path.join(dir, "forecast.html");
  await forewarm(
    "forecast",
    "--format",
    "swf",
    "--trace",
    path.join(traces, "nasa-ipsc-1993.swf.gz"),
    "--models",
    "snaive,interarrival,auto",
    "--origins",
    "1",
    "--per-class",
    "5",
    "--report",
    file,
  );
  const r = await render(file, path.join(dir, "forecast.png"));
  assert.deepEqual(r.errors, []);
  assert.ok(r.canvases >= 1, "at least one series chart");
  assert.match(fs.readFileSync(file, "utf8"), /auto chose/);
});

test("an M1 report holds the runs against the goal in hybrid's units, and leaves that chart out when hybrid has nothing avoidable", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-goalreport-"));
  const file = path.join(dir, "goal.html");
  const azure = path.join(traces, "azure2019-500fn-8h");
  await forewarm(
    "replay",
    "--format",
    "azure2019",
    "--invocations",
    path.join(azure, "invocations.csv"),
    "--memory",
    path.join(azure, "memory.csv"),
    "--policies",
    "oracle,forewarm",
    "--sweep",
    "price=2..3:1",
    "--report",
    file,
  );
  const r = await render(file, path.join(dir, "goal.png"));
  assert.deepEqual(r.errors, []);
  assert.equal(r.canvases, 3, "Pareto, against the goal, and the oracle's CDF");
  type Chart = { label: string; points: { x: number; y: number }[] }[];
  const data = chartData<{ pareto: Chart; againstHybrid: Chart }>(file);
  const find = (chart: Chart, label: string) => chart.find((s) => s.label === label)!.points;
  const [hybrid] = find(data.pareto, "hybrid (reference)");
  const [oracle] = find(data.pareto, "oracle");
  // Each forewarm point is its Pareto point in hybrid's units (avoidable = cold starts − the oracle's).
  const pareto = find(data.pareto, "forewarm (price swept)");
  const goal = find(data.againstHybrid, "forewarm (price swept)");
  assert.equal(goal.length, 2);
  for (const [i, p] of pareto.entries()) {
    assert.ok(Math.abs(goal[i]!.x - p.x / hybrid!.x) < 1e-12);
    assert.ok(Math.abs(goal[i]!.y - (p.y - oracle!.y) / (hybrid!.y - oracle!.y)) < 1e-12);
  }
  assert.deepEqual(find(data.againstHybrid, "hybrid (reference)"), [{ x: 1, y: 1 }]);
  assert.deepEqual(find(data.againstHybrid, "goal: ½ hybrid's avoidable cold starts at ½ its waste"), [
    { x: 0.5, y: 0.5 },
  ]);
  assert.equal(
    data.againstHybrid.some((s) => s.label === "oracle"),
    false,
    "bounds are not held against the goal",
  );

  // The azure2021 example: hybrid has no avoidable cold start, so there is no ratio to draw.
  const none = path.join(dir, "none.html");
  await replayReport(none, "--policies", "hybrid,forewarm");
  const n = await render(none, path.join(dir, "none.png"));
  assert.deepEqual(n.errors, []);
  assert.equal(n.canvases, 2, "Pareto and CDFs only");
});

test("an M2 report with hybrid listed draws the runs in hybrid's units too, from the replay's own goal columns", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-m2report-"));
  const file = path.join(dir, "m2.html");
  await replayReport(file, "--model", "m2", "--policies", "fixed:ka=1,hybrid,oracle,forewarm");
  const r = await render(file, path.join(dir, "m2.png"));
  assert.deepEqual(r.errors, []);
  assert.equal(r.canvases, 2, "Pareto and against the goal (M2 has no per-app CDFs)");
  const data = chartData<{ againstHybrid: { label: string; points: { x: number; y: number }[] }[] }>(file);
  const stdout = await forewarm(
    "replay",
    ...AZURE2021,
    "--model",
    "m2",
    "--policies",
    "fixed:ka=1,hybrid,oracle,forewarm",
    "--json",
  );
  const rows = JSON.parse(stdout) as { name: string; goal: { avoidable: number; waste: number } }[];
  for (const name of ["fixed:ka=1", "hybrid", "forewarm"]) {
    const goal = rows.find((x) => x.name === name)!.goal;
    assert.deepEqual(data.againstHybrid.find((s) => s.label === name)!.points, [
      { x: goal.waste, y: goal.avoidable },
    ]);
  }
  assert.equal(
    data.againstHybrid.some((s) => s.label === "oracle"),
    false,
    "bounds are not drawn",
  );

  // Without hybrid there is nothing to hold the runs against.
  const none = path.join(dir, "none.html");
  await replayReport(none, "--model", "m2", "--policies", "fixed:ka=1,forewarm");
  assert.equal((await render(none, path.join(dir, "none.png"))).canvases, 1);
});

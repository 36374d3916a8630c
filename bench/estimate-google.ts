/**
 * Per-(user, logical job name) duration estimates on the Google 2011 trace, days 1–7.
 *
 * Honest online protocol: events are replayed in time order; at a job's schedule time it is
 * estimated from the jobs of its series that had *ended* by then (its own end is observed at
 * end_us). Scored: jobs whose series had ≥ 5 observed jobs before them.
 * Usage: node dist/bench/estimate-google.js [trace.csv.gz]
 */
import { createReadStream } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";
import { ResourceEstimator } from "../src/classify/resource-estimator.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEFAULT_TRACE = path.resolve(ROOT, "../shared/traces/google2011-jobs-days01-07.csv.gz");
const MIN_PRIOR = 5;

interface Job {
  series: string;
  scheduleUs: number;
  endUs: number;
  durationMs: number;
}

async function loadJobs(file: string): Promise<{ jobs: Job[]; rows: number }> {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  let header: string[] | null = null;
  const jobs: Job[] = [];
  let rows = 0;
  for await (const line of lines) {
    if (!line) continue;
    const f = line.split(",");
    if (!header) {
      header = f;
      continue;
    }
    rows++;
    const col = (name: string): string => f[header?.indexOf(name) ?? -1] ?? "";
    const schedule = Number(col("schedule_us"));
    const end = Number(col("end_us"));
    if (!(schedule > 0 && end > 0 && end > schedule)) continue;
    jobs.push({
      series: `${col("user")}/${col("logical_job_name")}`,
      scheduleUs: schedule,
      endUs: end,
      durationMs: (end - schedule) / 1000,
    });
  }
  return { jobs, rows };
}

interface Score {
  ape: number[];
  /** upper bound / actual: how much an environment sized to the bound over-provisions. */
  slack: number[];
  covered: number;
  n: number;
}

const newScore = (): Score => ({ ape: [], slack: [], covered: 0, n: 0 });

function add(score: Score, predicted: number, upper: number, actual: number): void {
  score.ape.push(Math.abs(predicted - actual) / actual);
  score.slack.push(upper / actual);
  if (actual <= upper) score.covered++;
  score.n++;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const file = process.argv[2] ?? DEFAULT_TRACE;
  const t0 = performance.now();
  const { jobs, rows } = await loadJobs(file);
  // Event list: kind 0 = a job ends (observe), 1 = a job is scheduled (estimate). At equal times
  // ends come first, as in the design's M2 rules.
  const events: Array<[number, 0 | 1, number]> = [];
  jobs.forEach((j, i) => {
    events.push([j.scheduleUs, 1, i], [j.endUs, 0, i]);
  });
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);

  const estimator = new ResourceEstimator();
  const features = { runtime: "google", inputBytes: 0 };
  const lastSeen = new Map<string, number>();
  const maxSeen = new Map<string, number>();
  const observed = new Map<string, number>();
  const model = { expected: newScore(), p50: newScore() };
  const baseline = { last: newScore(), maxPrior: newScore() };
  for (const [, kind, i] of events) {
    const job = jobs[i] as Job;
    if (kind === 0) {
      estimator.observe(job.series, features, { durationMs: job.durationMs });
      lastSeen.set(job.series, job.durationMs);
      maxSeen.set(job.series, Math.max(maxSeen.get(job.series) ?? 0, job.durationMs));
      observed.set(job.series, (observed.get(job.series) ?? 0) + 1);
      continue;
    }
    if ((observed.get(job.series) ?? 0) < MIN_PRIOR) continue;
    const e = estimator.estimate(job.series, features).durationMs;
    add(model.expected, e.expected, e.p90, job.durationMs);
    add(model.p50, e.p50, e.p95, job.durationMs);
    const last = lastSeen.get(job.series) ?? 0;
    add(baseline.last, last, last, job.durationMs);
    const max = maxSeen.get(job.series) ?? 0;
    add(baseline.maxPrior, last, max, job.durationMs);
  }
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const row = (name: string, s: Score, bound: string): string =>
    `| ${name} | ${s.n} | ${pct(median(s.ape))} | ${bound} ${pct(s.covered / s.n)} | ${median(s.slack).toFixed(2)} |`;
  console.log(
    `trace ${path.basename(file)}: ${rows} jobs, ${jobs.length} with a duration, ${observed.size} series`,
  );
  console.log(`scored: jobs whose series had >= ${MIN_PRIOR} ended jobs at schedule time\n`);
  console.log(
    "| estimator | jobs | median APE of point estimate | coverage of upper bound | median bound/actual |",
  );
  console.log("|---|---|---|---|---|");
  console.log(row("ResourceEstimator expected", model.expected, "p90:"));
  console.log(row("ResourceEstimator p50", model.p50, "p95:"));
  console.log(row("last observed duration", baseline.last, "last as bound:"));
  console.log(row("last observed (bound: max of prior)", baseline.maxPrior, "max prior:"));
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

await main();

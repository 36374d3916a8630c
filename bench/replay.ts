/**
 * Replay benchmark (issue 4): Google cluster 2011 days 1–7 (154k jobs, 18k apps) under every
 * baseline in model M1. Prints load time, per-policy time and invocations per second, and the total
 * (target: all baselines together under 20 s on 2 cores). Each policy is timed alone, then all
 * together in one pass, which is how the CLI runs them.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTrace } from "../src/sim/loaders/index.js";
import { runM1 } from "../src/sim/m1.js";
import { parsePolicySpec } from "../src/sim/policies/registry.js";
import { timeOrder } from "../src/sim/time-order.js";

const POLICIES = ["fixed:ka=10", "fixed:ka=60", "fixed:ka=240", "no-unload", "hybrid", "oracle"];

function projectRoot(): string {
  const fromFile = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  return existsSync(join(fromFile, "package.json")) ? fromFile : process.cwd();
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

const file = resolve(projectRoot(), "../shared/traces/google2011-jobs-days01-07.csv.gz");
const t0 = performance.now();
const loaded = await loadTrace({ format: "google2011-jobs", trace: file });
const loadMs = performance.now() - t0;
const trace = loaded.minutes;
const t1 = performance.now();
timeOrder(trace);
const orderMs = performance.now() - t1;
console.log(`trace: ${file}`);
console.log(
  `apps ${trace.appNames.length}, invocations ${trace.invocations}, busy minutes ${trace.busyMinute.length}`,
);
console.log(
  `load ${seconds(loadMs)} (${Math.round(trace.invocations / (loadMs / 1000))} rows/s), time order ${seconds(orderMs)}`,
);

const context = { appCount: trace.appNames.length };
let policiesMs = 0;
for (const text of POLICIES) {
  const spec = parsePolicySpec(text);
  const start = performance.now();
  const [score] = runM1(trace, [{ label: spec.label, policy: spec.definition.create(spec.params, context) }]);
  const ms = performance.now() - start;
  policiesMs += ms;
  const rate = Math.round(trace.invocations / (ms / 1000));
  console.log(
    `${text.padEnd(13)} ${seconds(ms).padStart(8)}  ${String(rate).padStart(10)} invocations/s  cold ${score!.coldStarts}`,
  );
}
const specs = POLICIES.map((p) => parsePolicySpec(p));
const together = performance.now();
runM1(
  trace,
  specs.map((s) => ({ label: s.label, policy: s.definition.create(s.params, context) })),
);
const togetherMs = performance.now() - together;
console.log(`all ${POLICIES.length} baselines in one pass: ${seconds(togetherMs)}`);
console.log(
  `total (load + order + each policy alone): ${seconds(loadMs + orderMs + policiesMs)}; target < 20 s`,
);

/**
 * Policy decision rate (issue 7): app-decisions per second of the `forewarm` policy in M1 replay of
 * Google cluster 2011 days 1–7, beside hybrid and fixed keep-alive measured in the same run. Each
 * policy runs alone through runM1 (the engine's own loop included, so this is a replay rate); the
 * best of `ROUNDS` runs is kept. Ratios to hybrid are the comparable figure; absolute rates are noisy.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTrace } from "../src/sim/loaders/index.js";
import { runM1 } from "../src/sim/m1.js";
import { parsePolicySpec } from "../src/sim/policies/registry.js";
import { policyContext } from "../src/sim/run.js";
import { timeOrder } from "../src/sim/time-order.js";

const POLICIES = [
  "fixed:ka=10",
  "hybrid",
  "forewarm:price=1",
  "forewarm:price=1,cond=0,ratio=0",
  "forewarm:price=1,users=0,cond=0,ratio=0",
  // The fast variant (issue 7): no previous-gap conditioning, no ratio prior, user pools in stages 0–1.
  "forewarm:price=1,cond=0,ratio=0,groupStages=2",
];
/** The default forewarm and the fast variant, checked against the target. */
const CHECKED = ["forewarm:price=1", "forewarm:price=1,cond=0,ratio=0,groupStages=2"];
const ROUNDS = 5;
const TARGET = 1_000_000;

function projectRoot(): string {
  const fromFile = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  return existsSync(join(fromFile, "package.json")) ? fromFile : process.cwd();
}

const file = resolve(projectRoot(), "../shared/traces/google2011-jobs-days01-07.csv.gz");
const loaded = await loadTrace({ format: "google2011-jobs", trace: file });
const trace = loaded.minutes;
timeOrder(trace);
const decisions = trace.busyMinute.length;
// The replay's own context (users for the pooled priors), as the CLI gives it.
const context = policyContext(loaded, trace);
console.log(`trace: ${file}`);
console.log(`apps ${trace.appNames.length}, busy minutes (= decisions per policy) ${decisions}`);

// Rounds are interleaved (every policy once per round) so that load from other work on the machine
// hits all policies alike; the best round of each is kept.
const best = new Map<string, number>();
const cold = new Map<string, number>();
for (let r = 0; r < ROUNDS; r++) {
  for (const text of POLICIES) {
    const spec = parsePolicySpec(text);
    const start = performance.now();
    const [score] = runM1(trace, [
      { label: spec.label, policy: spec.definition.create(spec.params, context) },
    ]);
    const ms = performance.now() - start;
    best.set(text, Math.min(best.get(text) ?? Number.POSITIVE_INFINITY, ms));
    cold.set(text, score!.coldStarts);
  }
}
const width = Math.max(...POLICIES.map((p) => p.length)) + 1;
const rate = new Map<string, number>();
for (const text of POLICIES) {
  const ms = best.get(text)!;
  rate.set(text, decisions / (ms / 1000));
  console.log(
    `${text.padEnd(width)} ${(ms / 1000).toFixed(3).padStart(7)} s  ${Math.round(rate.get(text)!).toLocaleString("en-US").padStart(11)} decisions/s  cold ${cold.get(text)}`,
  );
}
const hybrid = rate.get("hybrid")!;
for (const text of POLICIES) {
  console.log(`${text.padEnd(width)} ${(rate.get(text)! / hybrid).toFixed(2)}× hybrid's rate`);
}
for (const text of CHECKED) {
  const r = rate.get(text)!;
  console.log(
    `${text} ${r >= TARGET ? "meets" : "misses"} the ${TARGET.toLocaleString("en-US")} decisions/s target (${(r / TARGET).toFixed(2)}×)`,
  );
}

/**
 * Policy decision rate (issue 7): app-decisions per second of the `forewarm` policy in M1 replay of
 * Google cluster 2011 days 1–7, beside hybrid and fixed keep-alive measured in the same run; then the
 * default and the fast variant beside hybrid on the other dev traces (Azure 2019 500 functions, NASA
 * iPSC), whose apps are fewer and longer-lived (the window cache serves more of their decisions). Each
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

const traces = resolve(projectRoot(), "../shared/traces");

/**
 * Best-of-ROUNDS milliseconds and cold starts of each policy on one loaded trace. Rounds are
 * interleaved (every policy once per round) so that load from other work on the machine hits all
 * policies alike.
 */
function measure(
  loaded: Awaited<ReturnType<typeof loadTrace>>,
  policies: readonly string[],
): { best: Map<string, number>; cold: Map<string, number> } {
  const trace = loaded.minutes;
  timeOrder(trace);
  // The replay's own context (users for the pooled priors), as the CLI gives it.
  const context = policyContext(loaded, trace);
  const best = new Map<string, number>();
  const cold = new Map<string, number>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const text of policies) {
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
  return { best, cold };
}

const file = join(traces, "google2011-jobs-days01-07.csv.gz");
const loaded = await loadTrace({ format: "google2011-jobs", trace: file });
const trace = loaded.minutes;
const decisions = trace.busyMinute.length;
console.log(`trace: ${file}`);
console.log(`apps ${trace.appNames.length}, busy minutes (= decisions per policy) ${decisions}`);
const { best, cold } = measure(loaded, POLICIES);
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

// The other dev traces: the default and the fast variant beside hybrid.
const OTHERS = ["hybrid", ...CHECKED];
const others = [
  {
    name: "Azure 2019, 500 functions",
    load: {
      format: "azure2019",
      invocations: join(traces, "azure2019-500fn-8h/invocations.csv"),
      memory: join(traces, "azure2019-500fn-8h/memory.csv"),
      durations: join(traces, "azure2019-500fn-8h/durations.csv"),
    },
  },
  { name: "NASA iPSC (SWF)", load: { format: "swf", trace: join(traces, "nasa-ipsc-1993.swf.gz") } },
] as const;
for (const t of others) {
  const l = await loadTrace(t.load);
  const n = l.minutes.busyMinute.length;
  const m = measure(l, OTHERS);
  const h = n / (m.best.get("hybrid")! / 1000);
  console.log(`\n${t.name}: apps ${l.minutes.appNames.length}, decisions ${n}`);
  for (const text of OTHERS) {
    const r = n / (m.best.get(text)! / 1000);
    console.log(
      `${text.padEnd(width)} ${Math.round(r).toLocaleString("en-US").padStart(11)} decisions/s  ${(r / h).toFixed(2)}× hybrid  ${(r / TARGET).toFixed(2)}× target  cold ${m.cold.get(text)}`,
    );
  }
}

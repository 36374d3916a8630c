import { DecisionLog } from "./decision-log.js";
import { ReplayInputError } from "./errors.js";
import { type GoalAxes, goalStanding, standingOn } from "./goal.js";
import { type LoadOptions, loadTrace } from "./loaders/index.js";
import { appMetaOf } from "./loaders/meta.js";
import { type M1Run, type M1Score, runM1 } from "./m1.js";
import { type M2Score, runM2 } from "./m2.js";
import { runM2Oracle } from "./m2-oracle.js";
import { runM2Planned } from "./m2-planned.js";
import { type PolicySpec, parsePolicySpec, splitPolicyList } from "./policies/registry.js";
import type { PolicyContext } from "./policies/types.js";
import { PolicyWindows } from "./policy-windows.js";
import { RouterPool } from "./router-pool.js";
import { expandSweep, parseSweep, type SweptSpec } from "./sweep.js";
import {
  cutEventTrace,
  cutMinuteTrace,
  type EventTrace,
  type LoadedTrace,
  type MinuteTrace,
} from "./trace.js";

export type Model = "m1" | "m2";

/** One replay as the CLI describes it; tests and the benchmark call the same function. */
export interface ReplayOptions {
  policies: string;
  model?: Model;
  untilMinute?: number;
  /** M1: score only busy and idle minutes after this one; policies still learn from all (m1.ts). */
  scoreAfterMinute?: number;
  sweep?: string;
  decisionsFile?: string;
  /** M2 cold-start latency L in seconds. */
  coldStartSeconds?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface M1References {
  hybrid: M1Score;
  fixed10: M1Score;
}

export interface ReplayResult {
  model: Model;
  specs: SweptSpec[];
  m1?: M1Score[];
  /** M1: the runs every row is held against (hybrid, fixed 10), listed or run implicitly. */
  references?: M1References;
  m2?: M2Score[];
  skippedLines: number;
  notes: string[];
}

const BASELINE = "fixed:ka=10";
const HYBRID = "hybrid";
/** What every M1 replay runs beside the listed policies (implicitly when not listed). */
export const M1_REFERENCES = [BASELINE, HYBRID] as const;
/**
 * The live planner's settings in M2 (forewarm and forecast alike): no grace after a window, and no
 * cap on a series' environments — M2's capacity is unlimited, as for the baselines.
 */
const M2_PLANNER = { graceMs: 0, maxPerSeries: Number.MAX_SAFE_INTEGER } as const;

export async function loadAndReplay(load: LoadOptions, options: ReplayOptions): Promise<ReplayResult> {
  const specs = resolveSpecs(options);
  const loaded = await loadTrace({ ...load, wantEvents: (options.model ?? "m1") === "m2" });
  return replayLoaded(loaded, options, specs);
}

/** Parses `--policies` (and `--sweep`) before any file is read, so typos fail fast. */
export function resolveSpecs(options: ReplayOptions): SweptSpec[] {
  const list = splitPolicyList(options.policies);
  if (list.length === 0) throw new ReplayInputError("--policies: no policy given");
  const sweep = options.sweep ? parseSweep(options.sweep) : undefined;
  const parsed = list.map((text) => parsePolicySpec(text, sweep ? [sweep.param] : []));
  if ((options.model ?? "m1") === "m1") {
    const m2Only = parsed.find((spec) => spec.definition.m2Only);
    if (m2Only) throw new ReplayInputError(`policy '${m2Only.label}' runs in M2 only: add --model m2`);
  }
  // A sweep can turn several listed specs into the same one (fixed:ka=10 and fixed:ka=60 over ka): once each.
  const seen = new Set<string>();
  const specs: SweptSpec[] = [];
  for (const s of expandSweep(parsed, sweep)) {
    if (seen.has(s.label)) continue;
    seen.add(s.label);
    specs.push(s);
  }
  for (const s of specs) s.definition.check?.(s.params, s.label, options.model ?? "m1");
  if (options.model === "m2") {
    const m1Only = specs.find((s) => !runsInM2(s));
    if (m1Only) throw new ReplayInputError(`policy '${m1Only.label}' runs in M1 only (${M2_POLICIES})`);
  }
  return specs;
}

const M2_POLICIES = "M2 runs fixed, no-unload, hybrid, oracle, forewarm and forecast";

/**
 * Whether M2 has an implementation of `spec`: the planner's policies, a fixed keep-alive, the M2
 * oracle, or a causal M1 policy whose windows the planner turns into environments (the hybrid
 * histogram; policy-windows.ts). Hindsight is M1's per-app bound and has no M2 meaning.
 */
function runsInM2(spec: PolicySpec): boolean {
  const name = spec.definition.name;
  return (
    name === "forewarm" ||
    name === "forecast" ||
    name === "oracle" ||
    name === "hybrid" ||
    spec.definition.fixedKeepAlive?.(spec.params) !== undefined
  );
}

export function replayLoaded(
  loaded: LoadedTrace,
  options: ReplayOptions,
  specs = resolveSpecs(options),
): ReplayResult {
  const model = options.model ?? "m1";
  const base = { model, specs, skippedLines: loaded.skippedLines, notes: loaded.notes };
  if (model === "m2") return { ...base, m2: replayM2(loaded, options, specs) };
  const { scores, references } = replayM1(loaded, options, specs);
  return { ...base, m1: scores, references };
}

function replayM1(
  loaded: LoadedTrace,
  options: ReplayOptions,
  specs: SweptSpec[],
): { scores: M1Score[]; references: M1References } {
  const trace =
    options.untilMinute === undefined ? loaded.minutes : cutMinuteTrace(loaded.minutes, options.untilMinute);
  if (trace.invocations === 0)
    throw new ReplayInputError(`--until-minute ${options.untilMinute}: no invocations left`);
  const after = options.scoreAfterMinute;
  // Whole minutes, as the model's: a fraction would count part of an idle minute.
  if (after !== undefined && !Number.isInteger(after))
    throw new ReplayInputError(`--score-after-minute ${after}: expected a whole minute`);
  if (after !== undefined && !trace.busyMinute.some((m) => m > after))
    throw new ReplayInputError(`--score-after-minute ${after}: no invocations after it to score`);
  const context = policyContext(loaded, trace);
  const runs: M1Run[] = specs.map((s) => ({
    label: s.label,
    policy: s.definition.create(s.params, context),
  }));
  // Waste is normalised to fixed 10-minute keep-alive, and every run is held against issue 7's goal
  // (goal.ts): both references run implicitly when not listed, and are not reported then.
  const listed = runs.length;
  const reference = (label: string): number => {
    const i = specs.findIndex((s) => s.label === label);
    if (i >= 0) return i;
    const s = parsePolicySpec(label);
    runs.push({ label: s.label, policy: s.definition.create(s.params, context) });
    return runs.length - 1;
  };
  const baseline = reference(BASELINE);
  const hybrid = reference(HYBRID);
  const log = options.decisionsFile ? new DecisionLog(options.decisionsFile) : undefined;
  let scores: M1Score[];
  try {
    const onDecision = log
      ? (r: number, app: number, minute: number, d: { pw: number; ka: number }) => {
          if (r < listed)
            log.write(
              runs[r]!.label,
              trace.appNames[app]!,
              minute,
              d,
              runs[r]!.policy.kind === "clairvoyant",
            );
        }
      : undefined;
    scores = runM1(trace, runs, {
      onDecision,
      onProgress: options.onProgress,
      scoreAfterMinute: options.scoreAfterMinute,
    });
  } finally {
    log?.close();
  }
  const baseWaste = scores[baseline]!.wastedMbMin;
  for (const s of scores) {
    s.wastedNormPct = baseWaste > 0 ? (100 * s.wastedMbMin) / baseWaste : Number.NaN;
    s.goal = goalStanding(s, scores[hybrid]!, scores[baseline]!);
  }
  return {
    scores: scores.slice(0, listed),
    references: { hybrid: scores[hybrid]!, fixed10: scores[baseline]! },
  };
}

/**
 * The static per-app facts policies may use: memory, and user/trigger ids (numbered in the order the
 * replayed trace lists its apps; they are keys only). A cut trace drops and renumbers apps, so
 * metadata is matched by app name.
 */
export function policyContext(loaded: LoadedTrace, trace: MinuteTrace): PolicyContext {
  const n = trace.appNames.length;
  const context: PolicyContext = { appCount: n };
  // Weight 1 everywhere is "the trace has no memory", not 1 MB apps.
  if (trace.appMemoryMb.some((mb) => mb !== 1)) context.appMemoryMb = trace.appMemoryMb;
  const meta = appMetaOf(loaded);
  if (!meta) return context;
  const full = loaded.minutes.appNames;
  let at: (a: number) => number = (a) => a;
  if (trace !== loaded.minutes) {
    const index = new Map<string, number>();
    full.forEach((name, i) => {
      index.set(name, i);
    });
    at = (a) => index.get(trace.appNames[a]!) ?? -1;
  }
  const ids = (values: (string | undefined)[]): Int32Array | undefined => {
    const out = new Int32Array(n).fill(-1);
    const seen = new Map<string, number>();
    let any = false;
    for (let a = 0; a < n; a++) {
      const v = values[at(a)];
      if (v === undefined) continue;
      let id = seen.get(v);
      if (id === undefined) {
        id = seen.size;
        seen.set(v, id);
      }
      out[a] = id;
      any = true;
    }
    return any ? out : undefined;
  };
  const user = ids(meta.user);
  const trigger = ids(meta.trigger);
  if (user) context.appUser = user;
  if (trigger) context.appTrigger = trigger;
  return context;
}

/** The trace's user id of each app of an event trace (by name); undefined without user metadata. */
function m2AppUsers(loaded: LoadedTrace, trace: EventTrace): Int32Array | undefined {
  const users = policyContext(loaded, loaded.minutes).appUser;
  if (!users) return undefined;
  const index = new Map(loaded.minutes.appNames.map((name, i) => [name, i]));
  return Int32Array.from(trace.appNames, (name) => {
    const i = index.get(name);
    return i === undefined ? -1 : users[i]!;
  });
}

function replayM2(loaded: LoadedTrace, options: ReplayOptions, specs: SweptSpec[]): M2Score[] {
  if (options.scoreAfterMinute !== undefined)
    throw new ReplayInputError("--score-after-minute is for M1 only");
  if (!loaded.events) throw new Error("M2 replay needs the loader to build events");
  if (options.decisionsFile) throw new ReplayInputError("--decisions is written for M1 only");
  const trace =
    options.untilMinute === undefined ? loaded.events : cutEventTrace(loaded.events, options.untilMinute);
  if (trace.app.length === 0)
    throw new ReplayInputError(`--until-minute ${options.untilMinute}: no invocations left`);
  // One progress count over all runs: run k's arrival i is k·n + i of runs·n.
  const n = trace.app.length;
  const progressOf = (k: number) =>
    options.onProgress ? (done: number) => options.onProgress!(k * n + done, specs.length * n) : undefined;
  const scores = specs.map((s, k) => runM2Spec(s, loaded, trace, options, progressOf(k)));
  holdM2AgainstGoal(specs, scores, trace, options);
  return scores;
}

/**
 * With the hybrid histogram among the runs, every M2 run is held against issue 7's goal as in M1:
 * avoidable cold starts (above the M2 oracle's) and wasted MB·s × hybrid's, and against fixed
 * 10-minute keep-alive; the oracle and fixed 10 run implicitly when not listed (both are cheap; hybrid
 * is a planner replay and is not run unasked).
 */
function holdM2AgainstGoal(
  specs: readonly SweptSpec[],
  scores: M2Score[],
  trace: EventTrace,
  options: ReplayOptions,
): void {
  const hybridAt = specs.findIndex((s) => s.label === HYBRID);
  if (hybridAt < 0) return;
  const listed = (label: string) => scores[specs.findIndex((s) => s.label === label)];
  const oracle = listed("oracle") ?? runM2Oracle(trace, "oracle", options.coldStartSeconds);
  const fixed10 =
    listed(BASELINE) ??
    runM2(trace, BASELINE, new RouterPool(trace.appMemoryMb, () => 600), {
      coldStartSeconds: options.coldStartSeconds,
    });
  const axes = (s: M2Score): GoalAxes => ({
    avoidableColdStarts: s.coldStarts - oracle.coldStarts,
    waste: s.wastedMbS,
    bound: s.bound,
  });
  const hybrid = axes(scores[hybridAt]!);
  for (const s of scores) {
    s.avoidableColdStarts = s.coldStarts - oracle.coldStarts;
    s.goal = standingOn(axes(s), hybrid, axes(fixed10));
  }
}

function runM2Spec(
  s: SweptSpec,
  loaded: LoadedTrace,
  trace: EventTrace,
  options: ReplayOptions,
  onProgress: ((done: number) => void) | undefined,
): M2Score {
  if (s.definition.name === "forewarm") {
    // In M2 the forewarm policy is the live server's `windowPolicy: "forewarm"` path: the same
    // learner, planFromWindows, reconcile and router; unheld environments keep a 1-minute floor.
    const p = { ...s.definition.defaults, ...s.params };
    const { price, memRef, budget, target, calibrateAfter, users, triggers: _triggers, ...learner } = p;
    // As in M1 (policyContext): a trace without memory weighs every app 1, not 1 MB against memRef.
    const memRefMb = trace.appMemoryMb.every((mb) => mb === 1) ? 1 : memRef!;
    const appUser = users! > 0 ? m2AppUsers(loaded, trace) : undefined;
    return runM2Planned(trace, s.label, {
      coldStartSeconds: options.coldStartSeconds,
      onProgress,
      keepAliveSeconds: 60,
      planner: M2_PLANNER,
      windows: {
        price: price!,
        memRefMb,
        learner,
        ...(appUser ? { appUser } : {}),
        ...(budget! > 0 || target! > 0
          ? {
              calibration: {
                budgetPct: budget!,
                targetColdPct: budget! > 0 ? 0 : target!,
                after: calibrateAfter!,
                maxInterval: Number.POSITIVE_INFINITY,
                maxEntries: Number.POSITIVE_INFINITY,
              },
            }
          : {}),
      },
    });
  }
  if (s.definition.name === "forecast") {
    // The live planner over forecasts (windowPolicy threshold / cost), with forewarm's M2 planner
    // settings (no grace, no per-series cap) and the live keep-alive for environments no window holds.
    const cost = s.params.cost!;
    return runM2Planned(trace, s.label, {
      coldStartSeconds: options.coldStartSeconds,
      onProgress,
      keepAliveSeconds: s.params.ka! * 60,
      planner: {
        ...M2_PLANNER,
        windowPolicy: cost === 1 ? "cost" : "threshold",
        pricePerGbMinute: s.params.price!,
      },
    });
  }
  if (s.definition.name === "oracle") return runM2Oracle(trace, s.label, options.coldStartSeconds);
  if (s.definition.name === "hybrid") {
    // The M1 policy's windows on forewarm's M2 path (the same planner, reconcile, router and 1-minute
    // floor for environments no window holds): in M2 the two differ only in the windows they choose.
    const policy = s.definition.create(s.params, {
      appCount: trace.appNames.length,
      appMemoryMb: trace.appMemoryMb,
    });
    if (policy.kind !== "causal") throw new Error(`${s.label}: not a causal policy`);
    return runM2Planned(trace, s.label, {
      coldStartSeconds: options.coldStartSeconds,
      onProgress,
      keepAliveSeconds: 60,
      planner: M2_PLANNER,
      windowSource: (apps, appOf) => new PolicyWindows(policy, s.label, apps, appOf),
    });
  }
  const kaMinutes = s.definition.fixedKeepAlive?.(s.params);
  // resolveSpecs refused the rest before anything ran.
  if (kaMinutes === undefined)
    throw new ReplayInputError(`policy '${s.label}' runs in M1 only (${M2_POLICIES})`);
  // The live router decides every reuse and expiry (RouterPool); SimulatedPool is its fast twin.
  const pool = new RouterPool(trace.appMemoryMb, () => kaMinutes * 60);
  return runM2(trace, s.label, pool, {
    coldStartSeconds: options.coldStartSeconds,
    onProgress,
  });
}

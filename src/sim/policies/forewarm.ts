import { PriceCalibrator } from "../../plan/busy-minute-log.js";
import {
  ForewarmLearner,
  LEARNER_DEFAULTS,
  LEARNER_SWITCHES,
  type LearnerOptions,
} from "../../plan/forewarm-learner.js";
import { emptyChoice, type WindowChoice } from "../../plan/window-policy.js";
import { ReplayInputError } from "../errors.js";
import type { Decision, M1Policy, ParamValues, PolicyContext, PolicyDefinition } from "./types.js";

/**
 * The forewarm policy in replay: the learner of src/plan/forewarm-learner.ts (per-app gap histogram,
 * priors pooled by history stage, scale, user and trigger, a next/previous gap ratio prior, previous-gap
 * conditioning, change detection) and the expected-cost window of src/plan/window-policy.ts. Parameters:
 * - price: cost of 1000 idle loaded minutes in cold starts (of a `memRef` MB app when the context has
 *   app memory: the price scales with memory); the one knob that traces the frontier;
 * - budget > 0: instead of price, at most `budget` % of fixed-10 wasted memory-time; target > 0: cold
 *   starts under `target` % of invocations. Both calibrate the price by bisection on a replay of the
 *   past (at minutes first + calibrateAfter·2^k), so they stay causal;
 * - range, decay, changeRun, forget: the per-app histogram (idle-distribution.ts); prior: pseudo-samples
 *   of the pooled prior; cond: pseudo-samples of the app's own distribution behind the distribution
 *   conditioned on the previous gap's size (half-octave class), which tells the two halves of an
 *   alternating or bursty pattern apart (0 = renewal only); condAdapt: per app, that weight shrinks where
 *   conditioning has predicted the app's past gaps better than its whole histogram and grows where not;
 *   priorAdapt: 1 = `prior` is scaled, per history bucket, by the multiple that has predicted best;
 * - users, triggers, groupWeight, groupStages: pooling by the context's users and triggers
 *   (pooled-gaps.ts); ratio: share of the prior from the next/previous gap ratio (ratio-prior.ts);
 *   daily: share of the not-yet-seen mass beyond `dailyFrom` minutes (720) put at one day (0.3;
 *   dailyFrom 0: of all of it; dailyAdapt 1: learnt from the gaps over half a
 *   day that completed, once 30 have); settle, refresh: window caching; negligible:
 *   the prior's share below which an app's own gaps are used alone (1e-3; larger is faster).
 */
export interface ForewarmParams {
  price: number;
  range: number;
  decay: number;
  prior: number;
  cond: number;
  /** Per app, trust the conditioning as far as it has predicted the app's gaps (forewarm-learner.ts). */
  condAdapt: number;
  /** 1 = the prior's weight per history bucket is the multiple of `prior` that has predicted best so far. */
  priorAdapt: number;
  changeRun: number;
  forget: number;
  budget: number;
  target: number;
  calibrateAfter: number;
  /** 1 = pool early-stage priors by the app's user (when the context has users), 0 = not. */
  users: number;
  /** 1 = pool early-stage priors by the app's trigger (when the context has triggers). */
  triggers: number;
  /** Pseudo-samples of the wider prior behind a user's or trigger's pooled gaps. */
  groupWeight: number;
  /** Group pools exist for stages (history lengths 0, 1, 2–3, 4–7, 8+) below this. */
  groupStages: number;
  /** Share of a pool's not-yet-seen mass beyond `dailyFrom` put around one day (scheduled jobs), 0 = none. */
  daily: number;
  /** Minutes beyond which a young pool's unseen mass gives `daily` its share; 0 = all of it. */
  dailyFrom: number;
  /** 1 = apps without gaps are pooled by how long after the start they were first seen. */
  birth: number;
  /** 1 = the daily share is learnt from completed gaps over half a day, whatever `dailyFrom` (`daily` until 30 have). */
  dailyAdapt: number;
  /** 1 = windows are padded by the margin (0–5 % of their bounds) that has cost least so far. */
  marginAdapt: number;
  /** With app memory known, the price is per idle minute of `memRef` MB (scaled by each app's memory). */
  memRef: number;
  /** Window caching (forewarm-learner.ts): gaps before an app's window may be reused; 0 = never. */
  settle: number;
  /** A cached window is recomputed once the app has seen this factor more gaps. */
  refresh: number;
  /** Share of the prior from the pooled next/previous gap ratio (timers settle after a gap or two). */
  ratio: number;
  /** The prior's share below which an app's own gaps are used alone (a speed knob; forewarm-learner.ts). */
  negligible: number;
}

export const FOREWARM_DEFAULTS: ForewarmParams = {
  price: 1,
  range: LEARNER_DEFAULTS.range,
  decay: 0,
  prior: 1,
  cond: LEARNER_DEFAULTS.cond,
  condAdapt: LEARNER_DEFAULTS.condAdapt,
  priorAdapt: LEARNER_DEFAULTS.priorAdapt,
  changeRun: LEARNER_DEFAULTS.changeRun,
  forget: LEARNER_DEFAULTS.forget,
  budget: 0,
  target: 0,
  calibrateAfter: 60,
  users: 1,
  triggers: 1,
  groupWeight: 4,
  groupStages: 5,
  daily: LEARNER_DEFAULTS.daily,
  dailyFrom: LEARNER_DEFAULTS.dailyFrom,
  birth: LEARNER_DEFAULTS.birth,
  dailyAdapt: LEARNER_DEFAULTS.dailyAdapt,
  marginAdapt: LEARNER_DEFAULTS.marginAdapt,
  memRef: 100,
  settle: LEARNER_DEFAULTS.settle,
  refresh: LEARNER_DEFAULTS.refresh,
  ratio: LEARNER_DEFAULTS.ratio,
  negligible: LEARNER_DEFAULTS.negligible,
};

type ForewarmContext = PolicyContext;

function learnerFor(context: ForewarmContext, p: ForewarmParams): ForewarmLearner {
  const o: LearnerOptions = {
    range: p.range,
    decay: p.decay,
    prior: p.prior,
    cond: p.cond,
    condAdapt: p.condAdapt,
    priorAdapt: p.priorAdapt,
    changeRun: p.changeRun,
    forget: p.forget,
    groupStages: p.groupStages,
    groupWeight: p.groupWeight,
    daily: p.daily,
    dailyFrom: p.dailyFrom,
    birth: p.birth,
    dailyAdapt: p.dailyAdapt,
    marginAdapt: p.marginAdapt,
    settle: p.settle,
    refresh: p.refresh,
    ratio: p.ratio,
    negligible: p.negligible,
  };
  return new ForewarmLearner(
    context.appCount,
    o,
    p.users > 0 ? context.appUser : undefined,
    p.triggers > 0 ? context.appTrigger : undefined,
  );
}

class Forewarm implements M1Policy {
  readonly kind = "causal";
  private readonly learner: ForewarmLearner;
  private readonly weight: Float64Array;
  /** Cost of one idle minute of a `memRef` MB app, in cold starts. */
  private unitPrice: number;
  private readonly choice: WindowChoice = emptyChoice();
  private readonly calibrator: PriceCalibrator | undefined;

  constructor(p: ForewarmParams, context: ForewarmContext) {
    this.learner = learnerFor(context, p);
    this.weight = memoryWeights(context, p.memRef);
    this.unitPrice = p.price / 1000;
    // A budget or target re-fits the price on a replay of the past (causal): see busy-minute-log.ts.
    this.calibrator =
      p.budget > 0 || p.target > 0
        ? new PriceCalibrator(
            {
              goal: p.budget > 0 ? p.budget : p.target,
              wasteMetric: p.budget > 0,
              after: p.calibrateAfter,
              maxInterval: Number.POSITIVE_INFINITY,
              maxEntries: Number.POSITIVE_INFINITY,
            },
            {
              freshLearner: () => learnerFor(context, p),
              weight: this.weight,
              ...(context.appMemoryMb ? { memory: context.appMemoryMb } : {}),
            },
            () => context.appCount,
          )
        : undefined;
  }

  get price(): number {
    return this.unitPrice * 1000;
  }

  afterBusyMinute(app: number, minute: number, count: number): Decision {
    if (this.calibrator) {
      const price = this.calibrator.observe(app, minute, count);
      if (price !== null) this.unitPrice = price / 1000;
    }
    const c = this.learner.decide(app, minute, this.unitPrice * this.weight[app]!, this.choice);
    return { pw: c.pw, ka: c.ka };
  }
}

/**
 * Memory relative to `memRef` MB (1 for every app when the context has no memory). A fixed reference,
 * not the mean over apps: the mean would depend on apps that have not appeared yet.
 */
export function memoryWeights(context: ForewarmContext, memRef: number): Float64Array {
  const n = context.appCount;
  const w = new Float64Array(n).fill(1);
  const mem = context.appMemoryMb;
  if (!mem || mem.length !== n || n === 0) return w;
  for (let a = 0; a < n; a++) w[a] = Math.max(0, mem[a]!) / memRef;
  return w;
}

/** Parameters the policy can use, checked before the trace loads (and again on direct creation). */
function checkForewarm(params: ParamValues, label: string): ForewarmParams {
  const p: ForewarmParams = { ...FOREWARM_DEFAULTS, ...params };
  const fail = (why: string): never => {
    throw new ReplayInputError(`policy '${label}': ${why}`);
  };
  if (!(p.range >= 1 && Number.isInteger(p.range))) fail(`range must be a whole number ≥ 1, got ${p.range}`);
  if (!(p.decay >= 0 && p.decay < 1)) fail(`decay must be in [0, 1), got ${p.decay}`);
  if (!(p.forget > 0 && p.forget <= 1)) fail(`forget must be in (0, 1], got ${p.forget}`);
  // A share of probability mass: above 1 the spread would hand out negative probabilities.
  if (!(p.daily >= 0 && p.daily <= 1)) fail(`daily must be in [0, 1], got ${p.daily}`);
  for (const k of LEARNER_SWITCHES) if (p[k] !== 0 && p[k] !== 1) fail(`${k} must be 0 (off) or 1 (on)`);
  return p;
}

export function createForewarm(params: ParamValues, context: PolicyContext): M1Policy {
  return new Forewarm(checkForewarm(params, "forewarm"), context);
}

export const forewarmPolicy: PolicyDefinition = {
  name: "forewarm",
  description:
    "expected-cost windows from per-app gap distributions with pooled priors (price, or budget/target)",
  defaults: { ...FOREWARM_DEFAULTS },
  check: (params, label) => void checkForewarm(params, label),
  create: createForewarm,
};

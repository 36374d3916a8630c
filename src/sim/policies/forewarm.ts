import { ForewarmLearner, LEARNER_DEFAULTS, type LearnerOptions } from "../../plan/forewarm-learner.js";
import { calibratePrice, emptyChoice, type WindowChoice } from "../../plan/window-policy.js";
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
 *   alternating or bursty pattern apart (0 = renewal only);
 * - users, triggers, groupWeight, groupStages: pooling by the context's users and triggers
 *   (pooled-gaps.ts); ratio: share of the prior from the next/previous gap ratio (ratio-prior.ts);
 *   daily: share of the not-yet-seen mass put at one day; settle, refresh: window caching; negligible:
 *   the prior's share below which an app's own gaps are used alone (1e-3; larger is faster).
 */
export interface ForewarmParams {
  price: number;
  range: number;
  decay: number;
  prior: number;
  cond: number;
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
  /** Share of a pool's not-yet-seen mass put around one day (scheduled jobs), 0 = none. */
  daily: number;
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
  cond: 2,
  changeRun: LEARNER_DEFAULTS.changeRun,
  forget: LEARNER_DEFAULTS.forget,
  budget: 0,
  target: 0,
  calibrateAfter: 60,
  users: 1,
  triggers: 1,
  groupWeight: 4,
  groupStages: 5,
  daily: 0,
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
    changeRun: p.changeRun,
    forget: p.forget,
    groupStages: p.groupStages,
    groupWeight: p.groupWeight,
    daily: p.daily,
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
  private readonly history: PrefixHistory | undefined;
  private nextCalibration = Number.NaN;

  constructor(
    private readonly p: ForewarmParams,
    private readonly context: ForewarmContext,
  ) {
    this.learner = learnerFor(context, p);
    this.weight = memoryWeights(context, p.memRef);
    this.unitPrice = p.price / 1000;
    this.history = p.budget > 0 || p.target > 0 ? new PrefixHistory() : undefined;
  }

  get price(): number {
    return this.unitPrice * 1000;
  }

  afterBusyMinute(app: number, minute: number, count: number): Decision {
    if (this.history) this.calibrate(app, minute, count);
    const c = this.learner.decide(app, minute, this.unitPrice * this.weight[app]!, this.choice);
    return { pw: c.pw, ka: c.ka };
  }

  /** Before the first decision of a checkpoint minute: re-fit the price on the past (causal). */
  private calibrate(app: number, minute: number, count: number): void {
    const h = this.history!;
    if (Number.isNaN(this.nextCalibration)) this.nextCalibration = minute + this.p.calibrateAfter;
    if (minute >= this.nextCalibration && h.size > 0) {
      const span = minute - h.first;
      this.nextCalibration = minute + Math.max(this.p.calibrateAfter, span);
      const price = calibratePrice(
        (candidate) => h.score(candidate, this.p, this.context, this.weight, this.p.budget > 0),
        this.p.budget > 0 ? this.p.budget : this.p.target,
        this.p.budget > 0,
        1e-4,
        1e4,
      );
      this.unitPrice = price / 1000;
    }
    h.push(app, minute, count);
  }
}

/** Busy minutes seen so far, in arrival order: what calibration may replay. */
class PrefixHistory {
  private app: number[] = [];
  private minute: number[] = [];
  private count: number[] = [];
  first = Number.NaN;

  get size(): number {
    return this.app.length;
  }

  push(app: number, minute: number, count: number): void {
    if (this.app.length === 0) this.first = minute;
    this.app.push(app);
    this.minute.push(minute);
    this.count.push(count);
  }

  /**
   * Replays the past under model M1 with a candidate price (fresh state, same code) and returns the
   * budget metric (waste, % of fixed 10-minute keep-alive on the same past) or the target metric
   * (cold %). Open windows count up to the last minute seen, as M1 counts up to the trace's end.
   */
  score(
    price: number,
    p: ForewarmParams,
    context: ForewarmContext,
    weight: Float64Array,
    wasteMetric: boolean,
  ): number {
    const n = context.appCount;
    const mem = context.appMemoryMb;
    const learner = learnerFor(context, p);
    const choice = emptyChoice();
    const start = new Float64Array(n).fill(Number.NaN);
    const end = new Float64Array(n);
    const fixedLast = new Float64Array(n).fill(Number.NaN);
    let cold = 0;
    let invocations = 0;
    let waste = 0;
    let fixedWaste = 0;
    const last = this.minute[this.minute.length - 1]!;
    for (let i = 0; i < this.app.length; i++) {
      const a = this.app[i]!;
      const t = this.minute[i]!;
      const m = mem ? mem[a]! : 1;
      invocations += this.count[i]!;
      const s = start[a]!;
      if (Number.isNaN(s) || !(s < t && t <= end[a]!)) cold++;
      if (!Number.isNaN(s)) waste += Math.max(0, Math.min(end[a]!, t - 1) - s) * m;
      const f = fixedLast[a]!;
      if (!Number.isNaN(f)) fixedWaste += Math.max(0, Math.min(f + 10, t - 1) - f) * m;
      fixedLast[a] = t;
      const c = learner.decide(a, t, (price / 1000) * weight[a]!, choice);
      start[a] = t + c.pw;
      end[a] = t + c.pw + c.ka;
    }
    for (let a = 0; a < n; a++) {
      if (Number.isNaN(start[a]!)) continue;
      const m = mem ? mem[a]! : 1;
      waste += Math.max(0, Math.min(end[a]!, last) - start[a]!) * m;
      fixedWaste += Math.max(0, Math.min(fixedLast[a]! + 10, last) - fixedLast[a]!) * m;
    }
    if (wasteMetric) return fixedWaste > 0 ? (100 * waste) / fixedWaste : 0;
    return invocations > 0 ? (100 * cold) / invocations : 0;
  }
}

/**
 * Memory relative to `memRef` MB (1 for every app when the context has no memory). A fixed reference,
 * not the mean over apps: the mean would depend on apps that have not appeared yet.
 */
function memoryWeights(context: ForewarmContext, memRef: number): Float64Array {
  const n = context.appCount;
  const w = new Float64Array(n).fill(1);
  const mem = context.appMemoryMb;
  if (!mem || mem.length !== n || n === 0) return w;
  for (let a = 0; a < n; a++) w[a] = Math.max(0, mem[a]!) / memRef;
  return w;
}

export function createForewarm(params: ParamValues, context: PolicyContext): M1Policy {
  const p: ForewarmParams = { ...FOREWARM_DEFAULTS, ...params };
  if (!(p.range >= 1 && Number.isInteger(p.range)))
    throw new Error("forewarm: range must be a whole number ≥ 1");
  if (!(p.decay >= 0 && p.decay < 1)) throw new Error("forewarm: decay must be in [0, 1)");
  if (!(p.forget > 0 && p.forget <= 1)) throw new Error("forewarm: forget must be in (0, 1]");
  return new Forewarm(p, context);
}

export const forewarmPolicy: PolicyDefinition = {
  name: "forewarm",
  description:
    "expected-cost windows from per-app gap distributions with pooled priors (price, or budget/target)",
  defaults: { ...FOREWARM_DEFAULTS },
  create: createForewarm,
};

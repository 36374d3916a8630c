/**
 * The forewarm policy's learner, shared by replay (src/sim/policies/forewarm.ts) and anything else
 * that feeds it busy minutes: per app an incremental gap histogram (idle-distribution.ts) mixed with
 * a prior pooled over apps at the same history length, user and trigger (pooled-gaps.ts), optionally
 * conditioned on the previous gap, and the expected-cost window (window-policy.ts). Pure: minutes are
 * arguments; a decision depends only on busy minutes already reported (causal by construction).
 *
 * Speed (issue 7, ≥ 1M app-decisions/s): the window is recomputed only when it may have changed. An
 * app with `settle` or more gaps keeps its last window while its gaps land inside it, the previous-gap
 * class is the same and it has not seen `refresh`× more gaps since (a bursty app switching classes takes
 * the window last computed for the new class, under the same terms); an app with no history takes the
 * window memoised on its (shared, immutable) prior. A recomputed window scans the mixture's sources in
 * one pass (mixture-window.ts); each app keeps a ticket of the pools its wait sits in (pooled-gaps.ts).
 * Per-app histograms live in typed-array columns (histogram-slab.ts), not one object each: the GC no
 * longer copies ~32k of them.
 */
import { ClassWindows } from "./class-windows.js";
import { HALF_A_DAY } from "./gap-pool.js";
import { HistogramSlab } from "./histogram-slab.js";
import { type GapAtoms, IDLE_DISTRIBUTION_DEFAULTS } from "./idle-distribution.js";
import { IntTable } from "./int-table.js";
import { ConditionTrust, nearHigh, nearLow, PriorWeightChoice, WindowMargin } from "./learnt-weights.js";
import { MixtureWindow } from "./mixture-window.js";
import { atomMassIn, newPoolTicket, PooledGaps, type PoolTicket } from "./pooled-gaps.js";
import { RatioPrior } from "./ratio-prior.js";
import { chooseWindowInto, type WindowChoice, type WindowParams } from "./window-policy.js";

export interface LearnerOptions {
  range: number;
  decay: number;
  /** Pseudo-samples of the pooled prior behind an app's own gaps. */
  prior: number;
  /** Pseudo-samples of the app's own distribution behind the one conditioned on the previous gap; 0 = none. */
  cond: number;
  /**
   * Per app, `cond` is scaled by e^(−condAdapt × score), the score the summed log ratio of how well the
   * conditioned and the whole histogram predicted the app's past gaps, held within ±3 / condAdapt
   * (learnt-weights.ts): conditioning is trusted where it has paid off and fades where it has not.
   * 0 = fixed `cond`.
   */
  condAdapt: number;
  /**
   * 1 = the prior's weight is chosen online per history bucket (1, 2–3, 4–7, 8–15, 16–63, 64+ gaps):
   * `prior` × the multiple (1/8 … 64) whose mixture of own and pooled gaps has predicted the gaps
   * completed so far best (log score); 0 = `prior` as given.
   */
  priorAdapt: number;
  changeRun: number;
  forget: number;
  /** Pool early stages by user / by trigger (when given). */
  groupStages: number;
  groupWeight: number;
  /** Share of a pool's not-yet-seen mass beyond `dailyFrom` minutes put around one day. */
  daily: number;
  /** Minutes beyond which a young pool's unseen mass gives `daily` its share (0 = all of it). */
  dailyFrom: number;
  /**
   * 1 = apps without gaps take the prior of apps first seen as long after the learner's start, and
   * apps with one gap their user's and trigger's pools of such apps (pooled-gaps.ts, birth classes):
   * those seen as it starts are old apps, later ones new.
   */
  birth: number;
  /**
   * 1 = the daily share is learnt from the gaps over half a day that completed, whatever `dailyFrom`
   * (pooled-gaps.ts); `daily` until then.
   */
  dailyAdapt: number;
  /**
   * 1 = windows are padded by the share of their bounds (0–5 %) that would have cost least so far in
   * M1's terms (learnt-weights.ts, WindowMargin): arrivals a little outside what an app has shown.
   */
  marginAdapt: number;
  /** Gaps after which an app's window is cached while its gaps keep landing inside it; 0 = never cache. */
  settle: number;
  /** Recompute a cached window once the app has seen this factor more gaps. */
  refresh: number;
  /** Share of the prior taken from the pooled next/previous gap ratio (ratio-prior.ts); 0 = none. */
  ratio: number;
  /**
   * The prior's share below which it is left out of an app's mixture. Raising it (e.g. 0.05: apps
   * with 20 or more gaps) is a speed knob: such apps' windows are then scanned over their own bins only.
   */
  negligible: number;
}

export const LEARNER_DEFAULTS: LearnerOptions = {
  range: IDLE_DISTRIBUTION_DEFAULTS.range,
  decay: 0,
  prior: 1,
  cond: 8,
  condAdapt: 0.5,
  priorAdapt: 1,
  changeRun: IDLE_DISTRIBUTION_DEFAULTS.changeRun,
  forget: IDLE_DISTRIBUTION_DEFAULTS.forget,
  groupStages: 5,
  groupWeight: 4,
  // A guess until dailyAdapt has learnt it; taken only out of young pools' unseen mass beyond half a
  // day (gap-pool.ts), so it costs platforms without daily jobs nothing (Azure and NASA: within ±0.1 %).
  daily: 0.3,
  dailyFrom: HALF_A_DAY,
  birth: 1,
  dailyAdapt: 1,
  marginAdapt: 1,
  settle: 16,
  refresh: 1.125,
  ratio: 0.5,
  negligible: 1e-3,
};

/** Options that are on (1) or off (0); any other value is an error. */
export const LEARNER_SWITCHES = ["priorAdapt", "dailyAdapt", "marginAdapt", "birth"] as const;

export class ForewarmLearner {
  private readonly last: Float64Array;
  private readonly lastGap: Float64Array;
  /** Each app's gap histogram (id = app), in typed arrays: no per-app objects for the GC to copy. */
  private readonly dists: HistogramSlab;
  /** Per (previous-gap class, app), key class × appCount + app: id in `conds` of the gap that followed. */
  private readonly byPrevious = new IntTable();
  private readonly conds: HistogramSlab;
  private readonly pool: PooledGaps;
  private readonly tickets: (PoolTicket | undefined)[];
  private readonly mixture = new MixtureWindow();
  private readonly ratios: RatioPrior;
  private readonly params: WindowParams = { coldPenalty: 1, price: 0, maxEnd: Number.POSITIVE_INFINITY };
  // The cached window of each app and what it was computed from.
  private readonly cachePw: Float64Array;
  private readonly cacheKa: Float64Array;
  private readonly cachePrice: Float64Array;
  private readonly cacheObs: Float64Array;
  private readonly cacheClass: Float64Array;
  /** The window last computed for each (previous-gap class, app), by its conditioned histogram's id. */
  private readonly classWindows = new ClassWindows();
  /** Per app: the conditioned histogram whose class window the app's cached window is (−1: none). */
  private readonly cacheCond: Int32Array;
  /** condAdapt, priorAdapt and marginAdapt (learnt-weights.ts); undefined when off. */
  private readonly condTrust: ConditionTrust | undefined;
  private readonly margin: WindowMargin | undefined;
  private readonly priorChoice: PriorWeightChoice | undefined;
  private readonly memo = new WeakMap<GapAtoms, { price: number; choice: WindowChoice }>();
  /** Decisions that recomputed the window (the rest came from a cache). */
  computed = 0;

  constructor(
    private readonly appCount: number,
    readonly o: LearnerOptions = LEARNER_DEFAULTS,
    private readonly user?: ArrayLike<number>,
    private readonly trigger?: ArrayLike<number>,
  ) {
    this.last = new Float64Array(appCount).fill(Number.NaN);
    this.lastGap = new Float64Array(appCount).fill(Number.NaN);
    this.tickets = new Array(appCount);
    this.cachePw = new Float64Array(appCount);
    this.cacheKa = new Float64Array(appCount);
    this.cachePrice = new Float64Array(appCount).fill(Number.NaN);
    this.cacheObs = new Float64Array(appCount);
    this.cacheClass = new Float64Array(appCount);
    this.cacheCond = new Int32Array(appCount).fill(-1);
    this.condTrust = o.cond > 0 && o.condAdapt > 0 ? new ConditionTrust(appCount, o.condAdapt) : undefined;
    this.priorChoice = o.priorAdapt > 0 ? new PriorWeightChoice(o.prior) : undefined;
    this.margin = o.marginAdapt > 0 ? new WindowMargin(appCount, o.range) : undefined;
    this.pool = new PooledGaps(
      o.range,
      undefined,
      undefined,
      undefined,
      undefined,
      o.groupStages,
      o.groupWeight,
      o.daily,
      o.dailyAdapt > 0,
      o.dailyFrom,
      o.birth > 0,
    );
    this.ratios = new RatioPrior(o.range);
    const distOptions = {
      ...IDLE_DISTRIBUTION_DEFAULTS,
      range: o.range,
      decay: o.decay,
      changeRun: o.changeRun,
      forget: o.forget,
    };
    this.dists = new HistogramSlab(distOptions, appCount);
    this.dists.createUpTo(appCount);
    // No change detection here: the unconditional histogram already forgets on a change.
    this.conds = new HistogramSlab({ ...distOptions, changeRun: 0 }, 1024);
    this.mixture.own = this.dists;
    this.mixture.priorWeight = o.prior;
    this.mixture.negligible = o.negligible;
    this.mixture.ratioShare = o.ratio;
    this.mixture.condWeight = o.cond;
  }

  /**
   * Learns from busy minute `minute` of `app` and writes the window for after it into `out` at
   * `price` (cost of one idle loaded minute of this app, in cold starts). `out.reason` is not filled;
   * `out.expectedCost` and friends are those of the last computation (a cached window keeps them).
   */
  decide(app: number, minute: number, price: number, out: WindowChoice): WindowChoice {
    const margin = this.margin;
    if (!margin) return this.window(app, minute, price, out);
    const prev = this.last[app]!;
    if (!Number.isNaN(prev)) margin.arrived(app, minute - prev);
    margin.sweep(minute);
    this.window(app, minute, price, out);
    margin.pad(app, minute, out.pw, out.ka, price, out);
    return out;
  }

  /** The share by which windows are padded now (marginAdapt; 0 when off or not yet worth it). */
  get windowMargin(): number {
    return this.margin ? this.margin.margin : 0;
  }

  /** Minutes the last decision's window was padded by before its start, and after its end. */
  get lastPadBefore(): number {
    return this.margin ? this.margin.padBefore : 0;
  }
  get lastPadAfter(): number {
    return this.margin ? this.margin.padAfter : 0;
  }

  /** decide's window before the margin (what the caches keep and the hit test uses). */
  private window(app: number, minute: number, price: number, out: WindowChoice): WindowChoice {
    const dists = this.dists;
    const prev = this.last[app]!;
    this.last[app] = minute;
    const u = this.user ? this.user[app]! : -1;
    const g = this.trigger ? this.trigger[app]! : -1;
    let hit = false;
    if (!Number.isNaN(prev)) {
      const gap = minute - prev;
      const pw = this.cachePw[app]!;
      hit = pw < gap && gap <= pw + this.cacheKa[app]!;
      // A class window that missed is not handed out again: its class's successor may have moved.
      const from = this.cacheCond[app]!;
      if (!hit) this.classWindows.void(from);
      const before = this.lastGap[app]!;
      if (this.priorChoice && dists.observations[app]! > 0)
        this.scorePrior(this.priorChoice, app, minute, gap, before);
      this.pool.completeIn(this.ticketOf(app), prev, gap);
      if (this.o.ratio > 0 && !Number.isNaN(before)) this.ratios.add(dists.observations[app]!, before, gap);
      if (this.condTrust && !Number.isNaN(before)) this.scoreCondition(this.condTrust, app, before, gap);
      dists.add(app, gap);
      if (this.o.cond > 0) this.observeAfter(app, before, gap);
      this.lastGap[app] = gap;
    }
    const obs = dists.observations[app]!;
    const typical = dists.typicalGap(app);
    const ticket = this.ticketOf(app);
    this.pool.enter(obs, typical, minute, u, g, ticket);
    const cls = this.o.cond > 0 && !Number.isNaN(this.lastGap[app]!) ? gapClass(this.lastGap[app]!) : -1;
    const condId = cls >= 0 ? this.byPrevious.get(cls * this.appCount + app) : -1;
    const settled = hit && this.o.settle > 0 && obs >= this.o.settle;
    if (
      settled &&
      this.cachePrice[app] === price &&
      this.cacheClass[app] === cls &&
      obs < this.cacheObs[app]! * this.o.refresh
    ) {
      out.pw = this.cachePw[app]!;
      out.ka = this.cacheKa[app]!;
      return out;
    }
    // A bursty app alternates between previous-gap classes: each class keeps the window last computed
    // for it (beside its conditioned histogram), reused under the same terms as the app's own cache.
    const cw = this.classWindows;
    if (settled && cw.usable(condId, price, dists.changes[app]!, obs, this.o.refresh)) {
      out.pw = cw.pw[condId]!;
      out.ka = cw.ka[condId]!;
      this.cachePw[app] = out.pw;
      this.cacheKa[app] = out.ka;
      this.cachePrice[app] = price;
      this.cacheObs[app] = cw.obs[condId]!;
      this.cacheClass[app] = cls;
      this.cacheCond[app] = condId;
      return out;
    }
    this.computed++;
    this.params.price = price;
    const own = dists.effectiveSamples(app);
    if (obs === 0) {
      // Nothing of its own: the window is the prior's, memoised on the (immutable) prior object.
      const prior = this.pool.priorOf(minute, ticket);
      const m = this.memo.get(prior);
      if (m && m.price === price) Object.assign(out, m.choice);
      else {
        chooseWindowInto(prior, 0, this.params, out);
        this.memo.set(prior, { price, choice: { ...out } });
      }
    } else {
      const w = this.priorWeight(obs);
      const prior = w / (own + w) >= this.o.negligible ? this.pool.priorOf(minute, ticket) : undefined;
      const mw = this.mixture;
      mw.priorWeight = w;
      mw.ownId = app;
      mw.pooled = prior;
      mw.ratio = prior && this.o.ratio > 0 ? this.ratios.prior(obs, this.lastGap[app]!) : undefined;
      mw.cond = condId < 0 ? undefined : this.conds;
      if (this.condTrust) mw.condWeight = this.o.cond * this.condTrust.factor(app);
      mw.condId = Math.max(condId, 0);
      mw.chooseInto(this.params, out);
    }
    this.cachePw[app] = out.pw;
    this.cacheKa[app] = out.ka;
    this.cachePrice[app] = price;
    this.cacheObs[app] = obs;
    this.cacheClass[app] = cls;
    this.cacheCond[app] = condId;
    if (condId >= 0) cw.keep(condId, out.pw, out.ka, price, obs, dists.changes[app]!);
    return out;
  }

  /** The pools the app's current wait sits in (one ticket per app, reused). */
  private ticketOf(app: number): PoolTicket {
    let t = this.tickets[app];
    if (!t) {
      t = newPoolTicket();
      this.tickets[app] = t;
    }
    return t;
  }

  /**
   * Before `gap` is learnt: how much better the histogram conditioned on the previous gap (`before`)
   * predicted it than the app's whole histogram did.
   */
  private scoreCondition(trust: ConditionTrust, app: number, before: number, gap: number): void {
    const c = gapClass(before);
    if (!(c >= 0)) return;
    const d = this.byPrevious.get(c * this.appCount + app);
    if (d < 0) return;
    const lo = nearLow(gap);
    const hi = nearHigh(gap);
    trust.add(app, this.conds.massIn(d, lo, hi), this.dists.massIn(app, lo, hi));
  }

  /**
   * Before `gap` is learnt (`minute` = now): the mass the app's own gaps and its prior put near it.
   * The prior is that of the pools its wait was entered with, as they are now: other apps' gaps that
   * completed since the decision count (the past, not this gap, which is not in them yet).
   */
  private scorePrior(
    choice: PriorWeightChoice,
    app: number,
    minute: number,
    gap: number,
    before: number,
  ): void {
    const dists = this.dists;
    const obs = dists.observations[app]!;
    if (!choice.wants(obs)) return;
    const lo = nearLow(gap);
    const hi = nearHigh(gap);
    let prior = this.pool.priorMassIn(minute, this.ticketOf(app), lo, hi);
    if (this.o.ratio > 0 && !Number.isNaN(before)) {
      const r = this.ratios.prior(obs, before);
      if (r) prior = this.o.ratio * atomMassIn(r, lo, hi, this.o.range) + (1 - this.o.ratio) * prior;
    }
    choice.add(obs, dists.effectiveSamples(app), dists.massIn(app, lo, hi), prior);
  }

  /** Pseudo-samples of the prior behind the own gaps of an app that has seen `gapsSeen` gaps, now. */
  priorWeight(gapsSeen: number): number {
    return this.priorChoice ? this.priorChoice.weight(gapsSeen) : this.o.prior;
  }

  /** Records `gap` as the successor of the app's previous gap. */
  private observeAfter(app: number, before: number, gap: number): void {
    if (Number.isNaN(before)) return;
    const c = gapClass(before);
    // Only classes ≥ 0 are ever looked up (a gap of 0 has class −∞).
    if (!(c >= 0)) return;
    const key = c * this.appCount + app;
    let d = this.byPrevious.get(key);
    if (d < 0) {
      d = this.conds.create();
      this.byPrevious.set(key, d);
    }
    this.conds.add(d, gap);
  }
}

/** Half-octave class of a gap: 1, 2, 3, 4, 5–6, 7–9, … */
export function gapClass(gap: number): number {
  return Math.round(2 * Math.log2(gap));
}

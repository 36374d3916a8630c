import { gapClass } from "../../plan/forewarm-learner.js";
import type { GapAtoms } from "../../plan/idle-distribution.js";
import { chooseWindowInto, emptyChoice, type WindowParams } from "../../plan/window-policy.js";
import { ReplayInputError } from "../errors.js";
import { lastBusyMinute, type MinuteTrace } from "../trace.js";
import { FOREWARM_DEFAULTS, memoryWeights } from "./forewarm.js";
import type { ClairvoyantPolicy, Decision, ParamValues, PolicyContext, PolicyDefinition } from "./types.js";

/**
 * Bounds for issue 7, not policies: they see the whole trace.
 * - In-sample (`loo=0`): each app holds the one window (pw, ka) that, over the whole trace, costs it
 *   least — cold starts + price × idle memory-minutes as M1 counts them, the window after its last
 *   busy minute included. So no policy that gives an app one window, however well it learns the app,
 *   does better at this price: cold + price × waste of any such policy is at least this one's.
 * - Leave-one-out (`loo=1`): forewarm's window rule (chooseWindowInto) on the app's gaps over the whole
 *   trace but the one being predicted: what knowing the distribution, not the draw, is worth.
 * - `tod=B` (with loo=1) also conditions on the time of day (minute mod 1440 of the trace's own clock):
 *   the app's gaps after a busy minute in the same of B slots, shrunk towards all its gaps by
 *   CONDITION_WEIGHT pseudo-samples — what knowing each app's daily rhythm exactly would add.
 * - `prev=1` (with loo=1) conditions the same way on the class of the gap before (forewarm's `cond`
 *   classes; the first busy minute has its own): what knowing how each app's gaps follow each other adds.
 * A policy that varies its windows (forewarm learns as it goes and conditions on the previous gap) can
 * in principle beat the in-sample bound; by how much says what that variation is worth.
 */
class Hindsight implements ClairvoyantPolicy {
  readonly kind = "clairvoyant";
  private readonly weight: Float64Array;
  private readonly params: WindowParams;
  private readonly choice = emptyChoice();
  /** Each app's distinct gaps (ascending) and counts: app a's are [offset[a], offset[a + 1]). */
  private offset = new Int32Array(1);
  private gaps = new Float64Array(0);
  private counts = new Float64Array(0);
  /** In-sample: each app's window, one per app. */
  private pw = new Float64Array(0);
  private ka = new Float64Array(0);
  /** Leave-one-out: the window without one gap, per (app, distinct gap index), computed when first met. */
  private looPw = new Float64Array(0);
  private looKa = new Float64Array(0);
  private readonly scratch: GapAtoms = {
    size: 0,
    gap: new Float64Array(0),
    prob: new Float64Array(0),
    tail: 0, // every gap is known: no mass beyond them
  };
  /**
   * tod > 0 or prev: per (app, condition), key app·KEYS + condition (keyOf), the distinct gaps
   * (ascending) and counts after a busy minute in that condition.
   */
  /** prev: each app's busy minute before the current one (NaN: none yet). */
  private lastMinute = new Float64Array(0);
  private readonly slotGaps = new Map<number, { gap: Float64Array; count: Float64Array }>();

  constructor(
    private readonly loo: boolean,
    private readonly tod: number,
    private readonly prev: boolean,
    unitPrice: number,
    context: PolicyContext,
    memRef: number,
  ) {
    this.weight = memoryWeights(context, memRef);
    this.params = { coldPenalty: 1, price: unitPrice, maxEnd: Number.POSITIVE_INFINITY };
  }

  prepare(trace: MinuteTrace): void {
    this.slotGaps.clear();
    const n = trace.appNames.length;
    this.lastMinute = new Float64Array(n).fill(Number.NaN);
    if (n !== this.weight.length)
      throw new Error(`hindsight: trace has ${n} apps, context ${this.weight.length}`);
    const minute = trace.busyMinute;
    const offset = new Int32Array(n + 1);
    const gaps: number[] = [];
    const counts: number[] = [];
    for (let a = 0; a < n; a++) {
      const own: number[] = [];
      const bySlot = new Map<number, number[]>();
      for (let i = trace.appOffset[a]! + 1; i < trace.appOffset[a + 1]!; i++) {
        const g = minute[i]! - minute[i - 1]!;
        own.push(g);
        if (this.tod > 0 || this.prev) {
          const before = i - 2 >= trace.appOffset[a]! ? minute[i - 2]! : Number.NaN;
          const key = a * KEYS + this.keyOf(minute[i - 1]!, before);
          const list = bySlot.get(key) ?? [];
          list.push(g);
          bySlot.set(key, list);
        }
      }
      for (const [key, list] of bySlot) this.slotGaps.set(key, distinct(list));
      const d = distinct(own);
      for (let k = 0; k < d.gap.length; k++) {
        gaps.push(d.gap[k]!);
        counts.push(d.count[k]!);
      }
      offset[a + 1] = gaps.length;
    }
    this.offset = offset;
    this.gaps = Float64Array.from(gaps);
    this.counts = Float64Array.from(counts);
    const widest = offset.reduce((m, o, a) => (a > 0 ? Math.max(m, o - offset[a - 1]!) : m), 0);
    // A slot's gaps are among the app's: the merge of the two needs no more room than the app's own.
    this.scratch.gap = new Float64Array(Math.max(1, widest));
    this.scratch.prob = new Float64Array(Math.max(1, widest));
    this.pw = new Float64Array(n);
    this.ka = new Float64Array(n);
    this.looPw = new Float64Array(gaps.length).fill(-1);
    this.looKa = new Float64Array(gaps.length);
    if (this.loo) return;
    const end = lastBusyMinute(trace);
    const best = { pw: 0, ka: 0 };
    for (let a = 0; a < n; a++) {
      const after = end - minute[trace.appOffset[a + 1]! - 1]!;
      const price = this.params.price * this.weight[a]!;
      bestSingleWindow(this.gaps, this.counts, offset[a]!, offset[a + 1]!, after, price, best);
      this.pw[a] = best.pw;
      this.ka[a] = best.ka;
    }
  }

  afterBusyMinute(app: number, minute: number, _count: number, next: number | null): Decision {
    if (!this.loo) return { pw: this.pw[app]!, ka: this.ka[app]! };
    // The gap about to be met is left out; the last busy minute has none (all gaps are the others).
    const without = next === null ? -1 : next - minute;
    if (this.tod > 0 || this.prev) {
      const before = this.lastMinute[app]!;
      this.lastMinute[app] = minute;
      this.window(app, without, this.slotGaps.get(app * KEYS + this.keyOf(minute, before)));
      return { pw: this.choice.pw, ka: this.choice.ka };
    }
    const k = next === null ? -1 : this.indexOf(app, without);
    if (k < 0) {
      this.window(app, -1);
      return { pw: this.choice.pw, ka: this.choice.ka };
    }
    if (this.looPw[k]! < 0) {
      this.window(app, without);
      this.looPw[k] = this.choice.pw;
      this.looKa[k] = this.choice.ka;
    }
    return { pw: this.looPw[k]!, ka: this.looKa[k]! };
  }

  /** chooseWindowInto over the scratch atoms at app `a`'s price. */
  private choose(a: number, total: number): void {
    const price = this.params.price;
    this.params.price = price * this.weight[a]!;
    // No gap left: nothing is known to come, so nothing is held (cost 0 if none comes, 1 cold start if one does).
    if (total > 0) chooseWindowInto(this.scratch, 0, this.params, this.choice);
    else {
      this.choice.pw = 0;
      this.choice.ka = 0;
    }
    this.params.price = price;
  }

  /**
   * The window of app `a` from its gaps without one gap of `without` minutes (−1: none left out); with
   * a `slot` (its gaps in the decision's condition), mixed n/(n + CONDITION_WEIGHT) with them.
   */
  private window(a: number, without: number, slot?: { gap: Float64Array; count: Float64Array }): void {
    let total = 0;
    for (let i = this.offset[a]!; i < this.offset[a + 1]!; i++)
      total += this.counts[i]! - (this.gaps[i] === without ? 1 : 0);
    let slotTotal = 0;
    if (slot)
      for (let j = 0; j < slot.gap.length; j++)
        slotTotal += slot.count[j]! - (slot.gap[j] === without ? 1 : 0);
    const share = slotTotal / (slotTotal + CONDITION_WEIGHT);
    const s = this.scratch;
    s.size = 0;
    let j = 0;
    for (let i = this.offset[a]!; i < this.offset[a + 1]!; i++) {
      const g = this.gaps[i]!;
      const less = g === without ? 1 : 0;
      let p = total > 0 ? ((1 - share) * (this.counts[i]! - less)) / total : 0;
      while (slot && j < slot.gap.length && slot.gap[j]! < g) j++;
      if (slot && slotTotal > 0 && j < slot.gap.length && slot.gap[j] === g)
        p += (share * (slot.count[j]! - less)) / slotTotal;
      if (p <= 0) continue;
      s.gap[s.size] = g;
      s.prob[s.size] = p;
      s.size++;
    }
    this.choose(a, total);
  }

  /** The condition of a busy minute: its slot of the day (tod), or the class of the gap before it (prev). */
  private keyOf(minute: number, before: number): number {
    if (this.prev)
      return Number.isNaN(before) ? 0 : 1 + Math.min(KEYS - 2, Math.max(0, gapClass(minute - before)));
    return Math.floor(((((minute % 1440) + 1440) % 1440) * this.tod) / 1440);
  }

  private indexOf(a: number, gap: number): number {
    let lo = this.offset[a]!;
    let hi = this.offset[a + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const g = this.gaps[mid]!;
      if (g === gap) return mid;
      if (g < gap) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

/**
 * The constant window of least cost — misses + price × idle minutes, a cold start costing 1 — for an
 * app whose gaps are the distinct values gap[from..to) (ascending) with `count`, and whose window
 * after its last busy minute is charged up to `after` minutes (trace end − that minute), as M1 charges
 * it. As in chooseWindowInto, an optimum holds nothing or starts one minute before a gap and ends on a
 * gap (moving either bound over minutes with no gap only adds idle time), and its cost splits into a
 * term of the end and a term of the start: the end's term for ends up to `after`, where the last
 * window costs end − pw, and the start's for later ends, where it costs max(0, after − pw). One pass
 * with a running minimum of each start term is exact.
 */
export function bestSingleWindow(
  gap: Float64Array,
  count: Float64Array,
  from: number,
  to: number,
  after: number,
  price: number,
  out: { pw: number; ka: number },
): void {
  let total = 0;
  for (let i = from; i < to; i++) total += count[i]!;
  // Holding nothing: every gap is a miss, nothing is idle.
  let best = total;
  out.pw = 0;
  out.ka = 0;
  // N, S: count and sum of the gaps before index j.
  let N = 0;
  let S = 0;
  let min1 = Number.POSITIVE_INFINITY; // start term for ends ≤ after
  let pw1 = 0;
  let min2 = Number.POSITIVE_INFINITY; // start term for ends > after
  let pw2 = 0;
  for (let j = from; j < to; j++) {
    // Start one minute before gap j: gaps before it are misses, later ones are waited for from pw.
    const pw = gap[j]! - 1;
    const start = N + price * (N - S - (total - N) * pw);
    if (start - price * pw < min1) {
      min1 = start - price * pw;
      pw1 = pw;
    }
    const tail = Math.max(0, after - pw);
    if (start + price * tail < min2) {
      min2 = start + price * tail;
      pw2 = pw;
    }
    // End on gap j: gaps up to it are caught, later ones miss after idling through the whole window.
    N += count[j]!;
    S += count[j]! * gap[j]!;
    const e = gap[j]!;
    const endTerm = total - N + price * (S - N + (total - N) * e);
    const c = e <= after ? endTerm + price * e + min1 : endTerm + min2;
    if (c < best - 1e-9) {
      best = c;
      out.pw = e <= after ? pw1 : pw2;
      out.ka = e - out.pw;
    }
  }
}

/** Distinct values of `list` (ascending) and how often each occurs. */
function distinct(list: number[]): { gap: Float64Array; count: Float64Array } {
  list.sort((x, y) => x - y);
  const gap: number[] = [];
  const count: number[] = [];
  for (const g of list) {
    if (gap.length > 0 && gap[gap.length - 1] === g) count[count.length - 1]! += 1;
    else {
      gap.push(g);
      count.push(1);
    }
  }
  return { gap: Float64Array.from(gap), count: Float64Array.from(count) };
}

/** Pseudo-samples of an app's whole distribution behind its condition's (tod > 0 or prev). */
const CONDITION_WEIGHT = 2;
/** Conditions per app in `slotGaps` keys (tod ≤ 1440 slots; prev: ~40 gap classes and "none"). */
const KEYS = 2048;
const HINDSIGHT_DEFAULTS = { price: 1, loo: 0, tod: 0, prev: 0, memRef: FOREWARM_DEFAULTS.memRef };

export const hindsightPolicy: PolicyDefinition = {
  name: "hindsight",
  description:
    "bound, sees the future: each app's best single window over the whole trace (loo=1: forewarm's rule on the app's other gaps; tod=B / prev=1: by time of day / previous gap)",
  defaults: HINDSIGHT_DEFAULTS,
  check(params: ParamValues, label: string): void {
    const loo = params.loo ?? 0;
    if (loo !== 0 && loo !== 1)
      throw new ReplayInputError(`policy '${label}': loo must be 0 or 1, got ${loo}`);
    const tod = params.tod ?? 0;
    if (!(Number.isInteger(tod) && tod <= 1440))
      throw new ReplayInputError(
        `policy '${label}': tod must be a whole number of slots per day (0–1440), got ${tod}`,
      );
    if (tod > 0 && loo !== 1)
      throw new ReplayInputError(
        `policy '${label}': tod needs loo=1 (in-sample, a slot of few gaps gives away the gap predicted)`,
      );
    const prev = params.prev ?? 0;
    if (prev !== 0 && prev !== 1)
      throw new ReplayInputError(`policy '${label}': prev must be 0 or 1, got ${prev}`);
    if (prev === 1 && loo !== 1)
      throw new ReplayInputError(
        `policy '${label}': prev needs loo=1 (in-sample, a condition of few gaps gives away the gap predicted)`,
      );
    if (prev === 1 && tod > 0) throw new ReplayInputError(`policy '${label}': give tod or prev, not both`);
    if (!((params.memRef ?? 1) > 0)) throw new ReplayInputError(`policy '${label}': memRef must be > 0`);
  },
  create(params: ParamValues, context: PolicyContext): ClairvoyantPolicy {
    const p = { ...HINDSIGHT_DEFAULTS, ...params };
    // Price as forewarm's: per 1000 idle minutes of a `memRef` MB app.
    return new Hindsight(p.loo === 1, p.tod, p.prev === 1, p.price / 1000, context, p.memRef);
  },
};

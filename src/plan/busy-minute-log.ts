/**
 * The busy minutes a policy has seen, in the order it saw them: what price calibration may replay.
 * A budget ("at most X % of fixed 10-minute keep-alive's idle memory-time") or a target ("cold starts
 * under Y %") is met by bisection on the price (window-policy.ts `calibratePrice`), each candidate
 * scored by replaying this past under model M1 with a fresh learner — causal, since only minutes
 * already seen are replayed. Replay's forewarm policy and the live series windows share it.
 */
import type { ForewarmLearner } from "./forewarm-learner.js";
import { calibratePrice, emptyChoice, priceSearch } from "./window-policy.js";

export interface CalibrationScoring {
  /** A learner with the policy's settings and no history. */
  freshLearner(): ForewarmLearner;
  /** Per app: the price multiplier (memory ÷ memRef, or 1). */
  weight: ArrayLike<number>;
  /** Per app: memory weight of idle time (MB, or 1 where there is none). */
  memory?: ArrayLike<number>;
  /** true: score the waste metric (% of fixed 10); false: the cold-start metric (% of invocations). */
  wasteMetric: boolean;
}

export class BusyMinuteLog {
  private app: number[] = [];
  private minute: number[] = [];
  private count: number[] = [];
  first = Number.NaN;

  /** @param maxEntries oldest entries are dropped beyond this (live: a rolling window; replay: none). */
  constructor(private readonly maxEntries = Number.POSITIVE_INFINITY) {}

  get size(): number {
    return this.app.length;
  }

  /** A copy that later pushes do not change (what a deferred calibration scores). */
  clone(): BusyMinuteLog {
    const c = new BusyMinuteLog(this.maxEntries);
    c.app = this.app.slice();
    c.minute = this.minute.slice();
    c.count = this.count.slice();
    c.first = this.first;
    return c;
  }

  push(app: number, minute: number, count: number): void {
    if (this.app.length >= this.maxEntries) {
      const drop = Math.max(1, Math.floor(this.maxEntries / 4));
      this.app.splice(0, drop);
      this.minute.splice(0, drop);
      this.count.splice(0, drop);
      this.first = this.minute[0] ?? minute;
    }
    if (this.app.length === 0) this.first = minute;
    this.app.push(app);
    this.minute.push(minute);
    this.count.push(count);
  }

  /**
   * Replays the logged minutes under model M1 at `price` (per 1000 idle minutes of weight 1) and
   * returns the budget metric (waste, % of fixed 10-minute keep-alive on the same minutes) or the
   * target metric (cold %). Open windows count up to the last minute seen, as M1 counts up to the end.
   */
  score(price: number, s: CalibrationScoring, appCount: number): number {
    const mem = s.memory;
    const learner = s.freshLearner();
    const choice = emptyChoice();
    const start = new Float64Array(appCount).fill(Number.NaN);
    const end = new Float64Array(appCount);
    const fixedLast = new Float64Array(appCount).fill(Number.NaN);
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
      const st = start[a]!;
      if (Number.isNaN(st) || !(st < t && t <= end[a]!)) cold++;
      if (!Number.isNaN(st)) waste += Math.max(0, Math.min(end[a]!, t - 1) - st) * m;
      const f = fixedLast[a]!;
      if (!Number.isNaN(f)) fixedWaste += Math.max(0, Math.min(f + 10, t - 1) - f) * m;
      fixedLast[a] = t;
      const c = learner.decide(a, t, (price / 1000) * s.weight[a]!, choice);
      start[a] = t + c.pw;
      end[a] = t + c.pw + c.ka;
    }
    for (let a = 0; a < appCount; a++) {
      if (Number.isNaN(start[a]!)) continue;
      const m = mem ? mem[a]! : 1;
      waste += Math.max(0, Math.min(end[a]!, last) - start[a]!) * m;
      fixedWaste += Math.max(0, Math.min(fixedLast[a]! + 10, last) - fixedLast[a]!) * m;
    }
    if (s.wasteMetric) return fixedWaste > 0 ? (100 * waste) / fixedWaste : 0;
    return invocations > 0 ? (100 * cold) / invocations : 0;
  }
}

export interface CalibratorOptions {
  /** The budget (% of fixed 10's idle memory-time) or the target (cold %) the price must meet. */
  goal: number;
  /** true: `goal` is a waste budget; false: a cold-start target. */
  wasteMetric: boolean;
  /** First calibration this many minutes after the first busy minute. */
  after: number;
  /** Calibrations come at first + after·2^k (the past doubles between them), at most this far apart. */
  maxInterval: number;
  /** Busy minutes kept for scoring (oldest dropped): bounds the time one calibration takes. */
  maxEntries: number;
  /**
   * true: a due calibration is not run inside `observe` but left for `calibrateDue`, which a live
   * caller runs a candidate per event-loop turn; the price then changes a little later than replay's.
   */
  deferred?: boolean;
}

/**
 * When to re-fit the price and on what: before the first decision of a due minute, bisection on the
 * logged past (never the minute being decided). Shared by replay's forewarm policy and the live windows.
 */
export class PriceCalibrator {
  private readonly log: BusyMinuteLog;
  private next = Number.NaN;
  /** Calibrations run so far. */
  runs = 0;
  /** The past a deferred calibration will score (taken when it fell due), or null. */
  private pending: BusyMinuteLog | null = null;

  constructor(
    private readonly o: CalibratorOptions,
    private readonly scoring: Omit<CalibrationScoring, "wasteMetric">,
    private readonly appCount: () => number,
  ) {
    this.log = new BusyMinuteLog(o.maxEntries);
  }

  /** Logs busy minute `minute` of `app`; returns the re-fitted price when one was due, else null. */
  observe(app: number, minute: number, count: number): number | null {
    let price: number | null = null;
    if (Number.isNaN(this.next)) this.next = minute + this.o.after;
    if (minute >= this.next && this.log.size > 0) {
      const span = minute - this.log.first;
      this.next = minute + Math.max(this.o.after, Math.min(span, this.o.maxInterval));
      if (this.o.deferred) {
        // The same past the synchronous calibration would score: the price it finds is the same.
        this.pending = this.log.clone();
        this.log.push(app, minute, count);
        return null;
      }
      const scoring = { ...this.scoring, wasteMetric: this.o.wasteMetric };
      const n = this.appCount();
      price = calibratePrice(
        (c) => this.log.score(c, scoring, n),
        this.o.goal,
        this.o.wasteMetric,
        1e-4,
        1e4,
      );
      this.runs++;
    }
    this.log.push(app, minute, count);
    return price;
  }

  /** A deferred calibration waits for `calibrateDue`. */
  get due(): boolean {
    return this.pending !== null;
  }

  /**
   * Runs a due deferred calibration on a snapshot of the log, awaiting `turn()` between candidate
   * prices (each one replay of the log), and returns the price; null when none is due.
   */
  async calibrateDue(turn: () => Promise<void>): Promise<number | null> {
    const log = this.pending;
    if (!log) return null;
    this.pending = null;
    const scoring = { ...this.scoring, wasteMetric: this.o.wasteMetric };
    const n = this.appCount();
    const search = priceSearch(this.o.goal, this.o.wasteMetric, 1e-4, 1e4);
    let step = search.next();
    while (!step.done) {
      await turn();
      step = search.next(log.score(step.value, scoring, n));
    }
    this.runs++;
    return step.value;
  }
}

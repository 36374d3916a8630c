/**
 * The forewarm policy of replay, for named series on the live server: the same ForewarmLearner
 * (forewarm-learner.ts) fed the same busy minutes in the same order as M1 replay feeds it, so the
 * server's (prewarm, keep-alive) decisions are replay's decisions on the same arrivals.
 *
 * M1's order is: minutes ascending; within a minute, apps in order of first appearance. Series are
 * numbered here in the order they are first reported, and a minute's busy series are decided in that
 * order, so a caller that reports each minute's series in arrival order reproduces it. Pure: minutes
 * are arguments; nothing reads a clock.
 */
import { type CalibratorOptions, PriceCalibrator } from "./busy-minute-log.js";
import { ForewarmLearner, LEARNER_DEFAULTS, type LearnerOptions } from "./forewarm-learner.js";
import { emptyChoice, explainWindow, type WindowChoice } from "./window-policy.js";

export interface SeriesWindowOptions {
  /** Cost of 1000 idle loaded minutes of a `memRefMb` environment, in cold starts (replay's `price`). */
  price: number;
  /** Memory the price refers to; a series' price scales with its environment's memory. */
  memRefMb: number;
  /** Most series the learner tracks (its per-series state is preallocated). */
  maxSeries: number;
  /** Learner settings; replay's forewarm defaults when left out. */
  learner?: Partial<LearnerOptions>;
  /**
   * Instead of `price` (which then only starts it): a budget — at most this % of fixed 10-minute
   * keep-alive's idle memory-time — or a target — cold starts under this % of arrivals — met by
   * re-fitting the price on the busy minutes seen so far (replay's `budget=` / `target=`).
   */
  calibration?: Omit<CalibratorOptions, "wasteMetric" | "goal"> & {
    budgetPct: number;
    targetColdPct: number;
  };
}

/** A series busy in a minute: who it belongs to and the memory its environment holds. */
export interface BusySeries {
  series: string;
  user: string;
  memoryMb: number;
  /**
   * The most of the series' tasks of the minute that ran at once (its concurrency); left out or 0 =
   * unknown (not counted in the window's staffing; a series never measured holds 1).
   */
  environments?: number;
  /** Arrivals in the minute (what a cold-start target counts); 1 when left out. */
  arrivals?: number;
}

/** One decision: after busy minute `minute`, keep the series loaded in minutes (minute+pw, minute+pw+ka]. */
export interface SeriesWindow {
  series: string;
  user: string;
  minute: number;
  pw: number;
  ka: number;
  /** The loaded span in ms: [from, until). Empty (from = until) when ka = 0. */
  from: number;
  until: number;
  /**
   * The series' concurrency to hold in the window: a fractile of its last RECENT busy minutes'
   * concurrency, by the window's price (see `staffing`; the planner adds headroom, window-planner.ts
   * `staffed`).
   */
  environments: number;
  /** P(next arrival outside the window), when this decision computed the window (null: cached). */
  pMiss: number | null;
  reason: string;
}

const MINUTE_MS = 60_000;
/**
 * Busy minutes whose concurrency the next window provides for: one minute's is a noisy sample of
 * how many tasks overlap, and a missing environment costs a cold start as a missing window does.
 */
export const RECENT = 16;

/**
 * The environments to hold in a window of `ka` minutes, given the series' recent concurrencies
 * `recent` (ascending), the price of one idle minute of one of its environments in cold starts, and
 * `busy`, the busy minutes the window is expected to hold: the newsvendor fractile. An environment
 * beyond those held is released as soon as its task ends, so the n-th one, held, saves a cold start
 * in every busy minute of the window whose concurrency reaches n — about busy × P(concurrency ≥ n) —
 * and costs at most price·ka when it never does. It is worth holding while P(concurrency ≥ n) >
 * price·ka / (busy + price·ka): the q = 1 / (1 + price·ka / busy) fractile. Cheap windows, and those
 * of series busy most minutes, hold the most seen lately; dear, long windows of sparse series hold what
 * is usual.
 */
export function staffing(
  recent: ArrayLike<number>,
  count: number,
  price: number,
  ka: number,
  busy = 1,
): number {
  const q = ka > 0 ? 1 / (1 + (price * ka) / Math.max(1, busy)) : 1;
  return recent[Math.max(0, Math.ceil(q * count) - 1)]!;
}

export class SeriesWindows {
  private readonly learner: ForewarmLearner;
  private readonly index = new Map<string, number>();
  private readonly userIds = new Map<string, number>();
  private readonly appUser: Int32Array;
  private readonly latest = new Map<string, SeriesWindow>();
  /** Per series (app id): its name and user. */
  private readonly names: string[] = [];
  private readonly users: string[] = [];
  /**
   * Per series, its latest decision in numbers: what `latest` is built from. `learnMinute` writes
   * only these (a relearn makes millions of decisions and needs the last of each series only).
   */
  private readonly dMinute: Float64Array;
  private readonly dPw: Float64Array;
  private readonly dKa: Float64Array;
  private readonly dPrice: Float64Array;
  /** NaN: the decision reused the series' cached window (nothing computed to explain). */
  private readonly dPMiss: Float64Array;
  /** Minutes the learner padded the decision's window by (timing jitter), before and after it. */
  private readonly dPadBefore: Int32Array;
  private readonly dPadAfter: Int32Array;
  private readonly dIdle: Float64Array;
  private readonly dCost: Float64Array;
  /** Series whose latest decision came from `learnMinute` and is not in `latest` yet. */
  private readonly stale: number[] = [];
  private readonly isStale: Uint8Array;
  private readonly choice: WindowChoice = emptyChoice();
  /** A minute's known series, as app × busy.length + position in `busy` (sorted: replay's order). */
  private order = new Float64Array(64);
  private readonly recent = new Uint16Array(RECENT);
  /** Per series, its concurrency in its last RECENT busy minutes (ring; 0 = not yet). */
  private readonly used: Uint16Array;
  /**
   * Per series, its last RECENT busy minutes (ring; NaN = not yet), whether or not their concurrency
   * is known: how busy the series has been, for the busy minutes a window is expected to hold.
   */
  private readonly busyAt: Float64Array;
  private lastMinute = Number.NEGATIVE_INFINITY;
  /** Per series: its price multiplier (memory ÷ memRef) and memory, for calibration. */
  private readonly weight: Float64Array;
  private readonly memory: Float64Array;
  private readonly calibrator: PriceCalibrator | null;
  /** Cost of 1000 idle minutes of a memRef environment now (the configured or the calibrated price). */
  price: number;
  /** Series refused because maxSeries was reached (they stay reactive). */
  overflow = 0;

  constructor(readonly o: SeriesWindowOptions) {
    this.appUser = new Int32Array(o.maxSeries).fill(-1);
    this.used = new Uint16Array(o.maxSeries * RECENT);
    this.busyAt = new Float64Array(o.maxSeries * RECENT).fill(Number.NaN);
    this.weight = new Float64Array(o.maxSeries).fill(1);
    this.memory = new Float64Array(o.maxSeries).fill(1);
    this.dMinute = new Float64Array(o.maxSeries).fill(Number.NaN);
    this.dPw = new Float64Array(o.maxSeries);
    this.dKa = new Float64Array(o.maxSeries);
    this.dPrice = new Float64Array(o.maxSeries);
    this.dPMiss = new Float64Array(o.maxSeries);
    this.dPadBefore = new Int32Array(o.maxSeries);
    this.dPadAfter = new Int32Array(o.maxSeries);
    this.dIdle = new Float64Array(o.maxSeries);
    this.dCost = new Float64Array(o.maxSeries);
    this.isStale = new Uint8Array(o.maxSeries);
    const options = { ...LEARNER_DEFAULTS, ...o.learner };
    this.learner = new ForewarmLearner(o.maxSeries, options, this.appUser);
    this.price = o.price;
    const c = o.calibration;
    const goal = c ? (c.budgetPct > 0 ? c.budgetPct : c.targetColdPct) : 0;
    this.calibrator =
      c && goal > 0
        ? new PriceCalibrator(
            { ...c, goal, wasteMetric: c.budgetPct > 0 },
            {
              // The series seen so far, with the users they have: what the past replays against.
              freshLearner: () => new ForewarmLearner(Math.max(1, this.index.size), options, this.appUser),
              weight: this.weight,
              memory: this.memory,
            },
            () => this.index.size,
          )
        : null;
  }

  /** A deferred calibration is waiting for `calibrateDue`. */
  get calibrationDue(): boolean {
    return this.calibrator?.due ?? false;
  }

  /** Runs a due deferred calibration (see CalibratorOptions.deferred) and puts its price in force. */
  async calibrateDue(turn: () => Promise<void>): Promise<number | null> {
    const price = (await this.calibrator?.calibrateDue(turn)) ?? null;
    if (price !== null) this.price = price;
    return price;
  }

  /** Price calibrations run so far (0 without a budget or target). */
  get calibrations(): number {
    return this.calibrator?.runs ?? 0;
  }

  /**
   * Learns busy minute `minute` of each series in `busy` (arrival order within the minute) and
   * returns their decisions, in the order made. Minutes must be reported in ascending order.
   */
  observeMinute(minute: number, busy: readonly BusySeries[]): SeriesWindow[] {
    const out: SeriesWindow[] = [];
    this.decideMinute(minute, busy, out);
    return out;
  }

  /**
   * observeMinute without handing the decisions out: the same learning and the same latest windows,
   * but no decision object or reason is made until `windows()` reads a series' latest one. For a
   * relearn of the history, where those were most of the time and the garbage.
   */
  learnMinute(minute: number, busy: readonly BusySeries[]): void {
    this.decideMinute(minute, busy, null);
  }

  private decideMinute(minute: number, busy: readonly BusySeries[], out: SeriesWindow[] | null): void {
    if (minute <= this.lastMinute)
      throw new Error(`minute ${minute} reported after minute ${this.lastMinute}: minutes must ascend`);
    this.lastMinute = minute;
    const m = busy.length;
    if (this.order.length < m) this.order = new Float64Array(2 * m);
    const order = this.order;
    let n = 0;
    for (let k = 0; k < m; k++) {
      const s = busy[k]!;
      let app = this.index.get(s.series);
      if (app === undefined) {
        if (this.index.size >= this.o.maxSeries) {
          this.overflow++;
          continue;
        }
        app = this.index.size;
        this.index.set(s.series, app);
        this.names.push(s.series);
        this.users.push(s.user);
        // "" = no known user: no user pool, as an app with user −1 in replay.
        this.appUser[app] = s.user === "" ? -1 : this.userId(s.user);
      }
      order[n++] = app * m + k;
    }
    // Series in order of first appearance (their ids), as replay orders apps within a minute.
    const known = order.subarray(0, n).sort();
    for (let j = 0; j < n; j++) {
      const key = known[j]!;
      const app = Math.floor(key / m);
      const s = busy[key - app * m]!;
      this.decide(app, minute, s);
      if (out) {
        const w = this.windowOf(app);
        this.isStale[app] = 0;
        this.latest.set(s.series, w);
        out.push(w);
      } else if (this.isStale[app] === 0) {
        this.isStale[app] = 1;
        this.stale.push(app);
      }
    }
  }

  /** One series' decision after its busy minute, into the d* columns. */
  private decide(app: number, minute: number, s: BusySeries): void {
    this.memory[app] = Math.max(0, s.memoryMb);
    this.weight[app] = this.memory[app]! / this.o.memRefMb;
    if (this.calibrator) {
      const fitted = this.calibrator.observe(app, minute, Math.max(1, s.arrivals ?? 1));
      if (fitted !== null) this.price = fitted;
    }
    const price = (this.price / 1000) * this.weight[app]!;
    const before = this.learner.computed;
    const c = this.learner.decide(app, minute, price, this.choice);
    const fresh = this.learner.computed > before;
    this.dMinute[app] = minute;
    this.dPw[app] = c.pw;
    this.dKa[app] = c.ka;
    this.dPrice[app] = price;
    this.dPMiss[app] = fresh ? c.pMiss : Number.NaN;
    this.dPadBefore[app] = this.learner.lastPadBefore;
    this.dPadAfter[app] = this.learner.lastPadAfter;
    this.dIdle[app] = c.expectedIdle;
    this.dCost[app] = c.expectedCost;
    const base = app * RECENT;
    this.busyAt.copyWithin(base + 1, base, base + RECENT - 1);
    this.busyAt[base] = minute;
    // Unknown concurrency (e.g. history recorded without it) is not remembered as 1: it would outvote
    // the measured minutes in the fractile.
    const used = s.environments;
    if (used !== undefined && used > 0 && Number.isFinite(used))
      this.remember(app, Math.max(1, Math.floor(used)));
  }

  /** The latest decision of series `app` as a window, with its reason. */
  private windowOf(app: number): SeriesWindow {
    const minute = this.dMinute[app]!;
    const pw = this.dPw[app]!;
    const ka = this.dKa[app]!;
    const fresh = !Number.isNaN(this.dPMiss[app]!);
    const from = (minute + pw + 1) * MINUTE_MS;
    let reason: string;
    if (fresh) {
      const c = this.choice;
      c.pw = pw;
      c.ka = ka;
      c.pMiss = this.dPMiss[app]!;
      c.expectedIdle = this.dIdle[app]!;
      c.expectedCost = this.dCost[app]!;
      reason = explainWindow(c, {
        coldPenalty: 1,
        price: this.dPrice[app]!,
        maxEnd: Number.POSITIVE_INFINITY,
      });
    } else
      reason = `load (now+${pw}, now+${pw + ka}] (a cached window: the last one computed for the app, or for its previous gap's class, and its gaps keep landing inside)`;
    const before = this.dPadBefore[app]!;
    const after = this.dPadAfter[app]!;
    // The numbers above are the unpadded window's; the bounds are the padded ones.
    if (before > 0 || after > 0)
      reason += `; padded by ${before} min before and ${after} min after for timing jitter (the figures are the unpadded window's)`;
    return {
      series: this.names[app]!,
      user: this.users[app]!,
      minute,
      pw,
      ka,
      from,
      until: from + (ka > 0 ? ka * MINUTE_MS : 0),
      // From the ring as it was at the decision: it changes only when the series is decided again.
      environments: this.environmentsOf(app, this.dPrice[app]!, ka),
      pMiss: fresh ? this.dPMiss[app]! : null,
      reason: `forewarm after busy minute ${minute}: ${reason}`,
    };
  }

  /** Builds the windows of the decisions `learnMinute` made (`windows()` does it when it reads). */
  buildLatest(): void {
    for (const app of this.stale) {
      if (this.isStale[app] === 0) continue;
      this.isStale[app] = 0;
      this.latest.set(this.names[app]!, this.windowOf(app));
    }
    this.stale.length = 0;
  }

  /** Drops the latest decision of series whose window ended before `beforeMs` (learning is kept). */
  forgetEnded(beforeMs: number): void {
    // Unbuilt decisions that have ended are never built (after a relearn, most of them).
    let kept = 0;
    for (const app of this.stale) {
      if (this.isStale[app] === 0) continue;
      const from = (this.dMinute[app]! + this.dPw[app]! + 1) * MINUTE_MS;
      const until = from + (this.dKa[app]! > 0 ? this.dKa[app]! * MINUTE_MS : 0);
      if (until >= beforeMs) this.stale[kept++] = app;
      else {
        this.isStale[app] = 0;
        this.latest.delete(this.names[app]!);
      }
    }
    this.stale.length = kept;
    for (const [series, w] of this.latest) if (w.until < beforeMs) this.latest.delete(series);
  }

  /** The latest decision of every series. */
  windows(): IterableIterator<SeriesWindow> {
    this.buildLatest();
    return this.latest.values();
  }

  /** Series whose last busy minute was before `minute` (a relearn from then on would drop them). */
  quietSeries(minute: number): number {
    let n = 0;
    for (let app = 0; app < this.index.size; app++) if (this.dMinute[app]! < minute) n++;
    return n;
  }

  get seriesCount(): number {
    return this.index.size;
  }

  /** Records this busy minute's concurrency in the series' ring. */
  private remember(app: number, environments: number): void {
    const base = app * RECENT;
    this.used.copyWithin(base + 1, base, base + RECENT - 1);
    this.used[base] = Math.min(environments, 65_535);
  }

  /**
   * `staffing` over the series' ring (sorted into a scratch buffer), for a window of `ka` minutes
   * expected to hold ka × the share of minutes the series was busy over its last RECENT busy minutes
   * (at least one).
   */
  private environmentsOf(app: number, price: number, ka: number): number {
    const sorted = this.recent;
    let n = 0;
    for (let k = 0; k < RECENT; k++) {
      const v = this.used[app * RECENT + k]!;
      if (v === 0) break;
      let i = n++;
      for (; i > 0 && sorted[i - 1]! > v; i--) sorted[i] = sorted[i - 1]!;
      sorted[i] = v;
    }
    if (n === 0) return 1;
    const base = app * RECENT;
    let busy = 1;
    while (busy < RECENT && !Number.isNaN(this.busyAt[base + busy]!)) busy++;
    const span = this.busyAt[base]! - this.busyAt[base + busy - 1]! + 1;
    return staffing(sorted, n, price, ka, (ka * busy) / span);
  }

  private userId(user: string): number {
    let id = this.userIds.get(user);
    if (id === undefined) {
      id = this.userIds.size;
      this.userIds.set(user, id);
    }
    return id;
  }
}

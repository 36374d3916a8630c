import { ReplayInputError } from "../errors.js";
import { forecastNextIdle } from "./idle-forecast.js";
import type { Decision, M1Policy, ParamValues, PolicyContext, PolicyDefinition } from "./types.js";

/**
 * Hybrid histogram policy (Shahrad et al., USENIX ATC 2020), in M1 minutes. The idle time after busy
 * minute t, when the next busy minute is t2, is I = t2 − t − 1 minutes; a decision (pw, ka) makes t2
 * warm iff pw ≤ I < pw + ka. Per app:
 * - fewer than `minSamples` idle times, or a histogram whose bin-count CV is below `cvThreshold`
 *   (spread out, not representative): fixed keep-alive of the whole range (pw 0, ka = range);
 * - at least `oobThreshold` of idle times ≥ range: forecast the next idle time Î (AR(1), see
 *   idle-forecast.ts) and load around it: pw = ⌊Î·(1 − arimaMargin)⌋ … ⌊Î·(1 + arimaMargin)⌋;
 * - otherwise head = `pwPct` percentile bin, tail = `kaPct` percentile bin of the in-range idle times:
 *   pw = ⌊head·bin·(1 − margin)⌋, pw + ka = ⌈(tail + 1)·bin·(1 + margin)⌉.
 * The CV is the sample standard deviation (n − 1) of the bin counts over their mean, as in the
 * paper's description and public reimplementations (threshold 2).
 */
export interface HybridParams {
  range: number;
  bin: number;
  pwPct: number;
  kaPct: number;
  margin: number;
  minSamples: number;
  cvThreshold: number;
  oobThreshold: number;
  arimaMargin: number;
  arWindow: number;
}

export const HYBRID_DEFAULTS: HybridParams = {
  range: 240,
  bin: 1,
  pwPct: 5,
  kaPct: 99,
  margin: 10,
  minSamples: 5,
  cvThreshold: 2,
  oobThreshold: 0.5,
  arimaMargin: 15,
  arWindow: 50,
};

class HybridHistogram implements M1Policy {
  readonly kind = "causal";
  private readonly nBins: number;
  private readonly last: Float64Array;
  private readonly inRange: Int32Array;
  private readonly outOfRange: Int32Array;
  private readonly sumSquares: Float64Array;
  private readonly bins: (Int32Array | undefined)[];
  private readonly recent: (number[] | undefined)[];
  private readonly p: HybridParams;

  constructor(params: ParamValues, context: PolicyContext) {
    this.p = { ...HYBRID_DEFAULTS, ...params };
    checkHybrid(params, "hybrid");
    this.nBins = Math.max(1, Math.ceil(this.p.range / this.p.bin));
    const n = context.appCount;
    this.last = new Float64Array(n).fill(Number.NaN);
    this.inRange = new Int32Array(n);
    this.outOfRange = new Int32Array(n);
    this.sumSquares = new Float64Array(n);
    this.bins = new Array(n);
    this.recent = new Array(n);
  }

  afterBusyMinute(app: number, minute: number): Decision {
    const prev = this.last[app]!;
    this.last[app] = minute;
    if (!Number.isNaN(prev)) this.observe(app, minute - prev - 1);
    const inRange = this.inRange[app]!;
    const samples = inRange + this.outOfRange[app]!;
    const uncertain = { pw: 0, ka: this.p.range };
    if (samples < this.p.minSamples || samples === 0) return uncertain;
    if (this.outOfRange[app]! / samples >= this.p.oobThreshold) return this.aroundForecast(app);
    if (this.binCountCv(app) < this.p.cvThreshold) return uncertain;
    return this.fromHistogram(app);
  }

  private observe(app: number, idle: number): void {
    const recent = this.recent[app] ?? [];
    this.recent[app] = recent;
    recent.push(idle);
    if (recent.length > 2 * this.p.arWindow) recent.splice(0, recent.length - this.p.arWindow);
    const bin = Math.floor(idle / this.p.bin);
    if (idle >= this.p.range || bin >= this.nBins) {
      this.outOfRange[app]! += 1;
      return;
    }
    let bins = this.bins[app];
    if (!bins) {
      bins = new Int32Array(this.nBins);
      this.bins[app] = bins;
    }
    this.sumSquares[app]! += 2 * bins[bin]! + 1;
    bins[bin]! += 1;
    this.inRange[app]! += 1;
  }

  private binCountCv(app: number): number {
    const n = this.nBins;
    if (n < 2) return 0;
    const mean = this.inRange[app]! / n;
    if (mean === 0) return 0;
    const variance = Math.max(0, (this.sumSquares[app]! - n * mean * mean) / (n - 1));
    return Math.sqrt(variance) / mean;
  }

  private fromHistogram(app: number): Decision {
    const bins = this.bins[app]!;
    const total = this.inRange[app]!;
    const head = percentileBin(bins, total, this.p.pwPct);
    const tail = percentileBin(bins, total, this.p.kaPct);
    const margin = this.p.margin / 100;
    const pw = Math.floor(head * this.p.bin * (1 - margin));
    const until = Math.ceil((tail + 1) * this.p.bin * (1 + margin));
    return { pw, ka: Math.max(1, until - pw) };
  }

  private aroundForecast(app: number): Decision {
    const recent = this.recent[app]!;
    const predicted = forecastNextIdle(recent.slice(-this.p.arWindow));
    const m = this.p.arimaMargin / 100;
    const pw = Math.floor(predicted * (1 - m));
    return { pw, ka: Math.max(1, Math.floor(predicted * (1 + m)) + 1 - pw) };
  }
}

/** Smallest bin whose cumulative count reaches pct % of the total. */
function percentileBin(bins: Int32Array, total: number, pct: number): number {
  const target = (total * pct) / 100;
  let cumulative = 0;
  for (let i = 0; i < bins.length; i++) {
    cumulative += bins[i]!;
    if (cumulative >= target && cumulative > 0) return i;
  }
  return bins.length - 1;
}

/**
 * Parameters the policy can use, checked before the trace loads (the parser has made every value a
 * finite number ≥ 0). Out of these ranges decisions go negative or fractional, or the model means nothing.
 */
function checkHybrid(params: ParamValues, label: string): void {
  const p = { ...HYBRID_DEFAULTS, ...params };
  const fail = (why: string): never => {
    throw new ReplayInputError(`policy '${label}': ${why}`);
  };
  // range is also the fallback keep-alive, and bins index the histogram: whole minutes.
  for (const k of ["range", "bin", "arWindow"] as const)
    if (!(Number.isInteger(p[k]) && p[k] >= 1)) fail(`${k} must be a whole number ≥ 1, got ${p[k]}`);
  if (!Number.isInteger(p.minSamples)) fail(`minSamples must be a whole number, got ${p.minSamples}`);
  for (const k of ["pwPct", "kaPct"] as const)
    if (!(p[k] <= 100)) fail(`${k} must be a percentile in [0, 100], got ${p[k]}`);
  // The pre-warm ends at the head percentile and the keep-alive at the tail one: the head comes first.
  if (p.pwPct > p.kaPct) fail(`pwPct (${p.pwPct}) must not exceed kaPct (${p.kaPct})`);
  // Margins are percentages taken off the pre-warm: above 100 it would go negative.
  for (const k of ["margin", "arimaMargin"] as const)
    if (!(p[k] <= 100)) fail(`${k} must be a percentage in [0, 100], got ${p[k]}`);
  if (!(p.oobThreshold <= 1)) fail(`oobThreshold must be a share in [0, 1], got ${p.oobThreshold}`);
}

export const hybridPolicy: PolicyDefinition = {
  name: "hybrid",
  description: "hybrid histogram (Shahrad et al. 2020): idle-time histogram, CV gate, AR(1) out of range",
  defaults: { ...HYBRID_DEFAULTS },
  check: (params, label) => checkHybrid(params, label),
  create: (params, context) => new HybridHistogram(params, context),
};

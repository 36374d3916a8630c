/**
 * Per-task resource estimates: expected value and upper quantiles of CPU seconds, peak memory,
 * duration and output bytes.
 *
 * Model, per metric and group (a task type; or all types of a runtime, the pooled prior):
 * log(metric + ε) = a + b·log(1 + inputBytes) + r. The slope is a ridge least-squares fit shrunk
 * towards the pooled slope (towards 0 for the pool), so a type whose inputs never vary borrows the
 * runtime's scaling. Upper quantiles come from the quantiles of *one-step-ahead* residuals — each
 * observation's error against the estimate made just before it — which is split-conformal
 * prediction run online: it includes the fit's own uncertainty, so p90 covers ~90% without a
 * distributional assumption. A short series blends its residual quantiles with the pooled ones
 * (weight n/(n + priorWeight)); a type with no history uses the pooled fit. The expected value is
 * the back-transformed centre times Duan's smearing factor (mean of exp(residual)).
 *
 * Why not quantile regression: it needs an iterative LP fit per type and quantile on every update,
 * and with a single regressor (input size) and a few dozen samples per type it is no more accurate
 * than a log-linear centre plus empirical residual quantiles, which updates in O(window).
 * Pure: no clock, no randomness; state changes only through observe().
 */

export const METRICS = ["cpuSeconds", "peakMemoryMb", "durationMs", "outputBytes"] as const;
export type Metric = (typeof METRICS)[number];

export interface EstimatorFeatures {
  runtime: string;
  inputBytes: number;
}

/** Measured usage of a finished task; null or missing metrics are not learned from. */
export type ObservedUsage = Partial<Record<Metric, number | null>>;

export interface QuantileEstimate {
  expected: number;
  p50: number;
  p90: number;
  p95: number;
}

export type ResourceEstimate = Record<Metric, QuantileEstimate> & {
  /** Observations of the task type behind the estimate (0 = pooled prior only). */
  samples: number;
};

export interface ResourceEstimatorOptions {
  /** Samples kept per type and metric (older ones are forgotten: workloads drift). */
  window?: number;
  /** Samples kept in each runtime's pooled prior. */
  pooledWindow?: number;
  /** How many own residuals weigh as much as the pooled residual distribution. */
  priorWeight?: number;
  /** Ridge penalty on the slope, in units of Σ(x − x̄)² (log-bytes squared). */
  slopeRidge?: number;
  /** Used before anything at all was observed for the runtime. */
  defaults?: Partial<Record<Metric, number>>;
}

const EPSILON: Record<Metric, number> = { cpuSeconds: 1e-3, peakMemoryMb: 1, durationMs: 1, outputBytes: 1 };
const DEFAULT_VALUES: Record<Metric, number> = {
  cpuSeconds: 0.1,
  peakMemoryMb: 128,
  durationMs: 100,
  outputBytes: 1024,
};
/** exp() of larger residuals would swamp the smearing mean; 20 log units is ×5e8 already. */
const MAX_LOG_RESIDUAL = 20;

/** Ring buffer of the last `capacity` samples of one metric. */
class SampleWindow {
  xs: number[] = [];
  ys: number[] = [];
  residuals: number[] = [];
  count = 0;
  private readonly memo = new Map<string, { atCount: number; value: unknown }>();
  /** Derived values may lag this many pushes: pooled windows are large and change every task. */
  constructor(
    readonly capacity: number,
    readonly refreshEvery = 1,
  ) {}

  cached<T>(key: string, compute: () => T): T {
    const hit = this.memo.get(key);
    if (hit && this.count - hit.atCount < this.refreshEvery) return hit.value as T;
    const value = compute();
    this.memo.set(key, { atCount: this.count, value });
    return value;
  }

  push(x: number, y: number, residual: number | null): void {
    this.xs.push(x);
    this.ys.push(y);
    if (this.xs.length > this.capacity) {
      this.xs.shift();
      this.ys.shift();
    }
    if (residual !== null) {
      this.residuals.push(residual);
      if (this.residuals.length > this.capacity) this.residuals.shift();
    }
    this.count++;
  }
}

interface Fit {
  meanX: number;
  meanY: number;
  slope: number;
  n: number;
}

function fitLine(w: SampleWindow, priorSlope: number, ridge: number): Fit | null {
  const n = w.xs.length;
  if (n === 0) return null;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += w.xs[i] ?? 0;
    sy += w.ys[i] ?? 0;
  }
  const meanX = sx / n;
  const meanY = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (w.xs[i] ?? 0) - meanX;
    sxx += dx * dx;
    sxy += dx * ((w.ys[i] ?? 0) - meanY);
  }
  return { meanX, meanY, slope: (sxy + ridge * priorSlope) / (sxx + ridge), n };
}

const predict = (f: Fit, x: number): number => f.meanY + f.slope * (x - f.meanX);

/** Linear-interpolated quantile of sorted values (type 7). */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo] ?? 0;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] ?? a;
  return a + (b - a) * (h - lo);
}

interface ResidualSummary {
  q50: number;
  q90: number;
  q95: number;
  /** log of mean(exp(residual)): Duan's smearing term. */
  logSmear: number;
}

const sortedCopy = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

/** Quantiles and smearing term of `scale` × the (sorted) standardised residuals. */
function summarise(sorted: readonly number[], scale: number): ResidualSummary | null {
  if (sorted.length === 0) return null;
  let s = 0;
  for (const r of sorted) s += Math.exp(Math.min(scale * r, MAX_LOG_RESIDUAL));
  return {
    q50: scale * quantileSorted(sorted, 0.5),
    q90: scale * quantileSorted(sorted, 0.9),
    q95: scale * quantileSorted(sorted, 0.95),
    logSmear: Math.log(s / sorted.length),
  };
}

/**
 * A prediction from n samples has error variance σ²(1 + 1/n): residuals are stored divided by
 * this factor (n at the time) and multiplied by it for the series' current n, so residuals made
 * when a series was short do not widen its later intervals.
 */
const predictionScale = (n: number): number => Math.sqrt(1 + 1 / Math.max(1, n));

function blend(own: ResidualSummary | null, prior: ResidualSummary | null, w: number): ResidualSummary {
  if (!own) return prior ?? { q50: 0, q90: 0, q95: 0, logSmear: 0 };
  if (!prior) return own;
  const mix = (a: number, b: number): number => w * a + (1 - w) * b;
  return {
    q50: mix(own.q50, prior.q50),
    q90: mix(own.q90, prior.q90),
    q95: mix(own.q95, prior.q95),
    logSmear: mix(own.logSmear, prior.logSmear),
  };
}

/** Per-metric state of one group. */
type GroupState = Record<Metric, SampleWindow>;

export class ResourceEstimator {
  private readonly window: number;
  private readonly pooledWindow: number;
  private readonly priorWeight: number;
  private readonly ridge: number;
  private readonly defaults: Record<Metric, number>;
  private readonly types = new Map<string, GroupState>();
  private readonly pools = new Map<string, GroupState>();
  /** Observation counts per type (any metric). */
  private readonly typeSamples = new Map<string, number>();

  constructor(options: ResourceEstimatorOptions = {}) {
    this.window = options.window ?? 100;
    this.pooledWindow = options.pooledWindow ?? 2000;
    this.priorWeight = options.priorWeight ?? 10;
    this.ridge = options.slopeRidge ?? 1;
    this.defaults = { ...DEFAULT_VALUES, ...options.defaults };
  }

  /** Learns one finished task's usage; call after estimate() for the same task to stay honest. */
  observe(taskType: string, features: EstimatorFeatures, usage: ObservedUsage): void {
    const x = logBytes(features.inputBytes);
    const own = this.group(this.types, taskType, this.window);
    const pool = this.group(this.pools, features.runtime, this.pooledWindow);
    for (const m of METRICS) {
      const v = usage[m];
      if (v === null || v === undefined || !Number.isFinite(v) || v < 0) continue;
      const y = Math.log(v + EPSILON[m]);
      const poolFit = pooledFit(pool[m], this.ridge);
      const ownFit = fitLine(own[m], poolFit?.slope ?? 0, this.ridge);
      // The residual against what we would have predicted a moment ago (out of sample).
      const ownResidual = ownFit ? (y - predict(ownFit, x)) / predictionScale(ownFit.n) : null;
      own[m].push(x, y, ownResidual);
      // The pool learns types' own (within-series) residuals only: the prior for a short
      // series' spread. A type's first sample has none; the cold-start spread is computed apart.
      pool[m].push(x, y, ownResidual);
    }
    this.typeSamples.set(taskType, (this.typeSamples.get(taskType) ?? 0) + 1);
  }

  estimate(taskType: string, features: EstimatorFeatures): ResourceEstimate {
    const x = logBytes(features.inputBytes);
    const own = this.types.get(taskType);
    const pool = this.pools.get(features.runtime);
    const out = { samples: this.typeSamples.get(taskType) ?? 0 } as ResourceEstimate;
    for (const m of METRICS) out[m] = this.estimateMetric(m, x, own?.[m], pool?.[m]);
    return out;
  }

  /** Types with at least one observation. */
  get typeCount(): number {
    return this.types.size;
  }

  private estimateMetric(
    m: Metric,
    x: number,
    own: SampleWindow | undefined,
    pool: SampleWindow | undefined,
  ): QuantileEstimate {
    const poolFit = pool ? pooledFit(pool, this.ridge) : null;
    const ownFit = own ? fitLine(own, poolFit?.slope ?? 0, this.ridge) : null;
    const fit = ownFit ?? poolFit;
    if (!fit) {
      const d = this.defaults[m];
      return { expected: d, p50: d, p90: d, p95: d };
    }
    const centre = predict(fit, x);
    const scale = predictionScale(ownFit?.n ?? 1);
    const ownResiduals = ownFit && own ? summarise(sortedCopy(own.residuals), scale) : null;
    const w = own ? own.residuals.length / (own.residuals.length + this.priorWeight) : 0;
    // With no own fit, the spread across the runtime's types is the honest uncertainty.
    const prior = !pool
      ? null
      : ownFit
        ? summarise(
            pool.cached("residuals", () => sortedCopy(pool.residuals)),
            scale,
          )
        : poolSpread(pool, poolFit);
    const r = blend(ownResiduals, prior, w);
    const back = (logValue: number): number => Math.max(0, Math.exp(logValue) - EPSILON[m]);
    const p50 = back(centre + r.q50);
    const p90 = Math.max(p50, back(centre + r.q90));
    const p95 = Math.max(p90, back(centre + r.q95));
    return { expected: back(centre + r.logSmear), p50, p90, p95 };
  }

  private group(map: Map<string, GroupState>, key: string, capacity: number): GroupState {
    let g = map.get(key);
    if (!g) {
      const every = Math.max(1, Math.floor(capacity / 50));
      g = {
        cpuSeconds: new SampleWindow(capacity, every),
        peakMemoryMb: new SampleWindow(capacity, every),
        durationMs: new SampleWindow(capacity, every),
        outputBytes: new SampleWindow(capacity, every),
      };
      map.set(key, g);
    }
    return g;
  }
}

function pooledFit(pool: SampleWindow, ridge: number): Fit | null {
  return pool.cached("fit", () => fitLine(pool, 0, ridge));
}

function poolSpread(pool: SampleWindow, fit: Fit | null): ResidualSummary | null {
  if (!fit) return null;
  return pool.cached("spread", () =>
    summarise(sortedCopy(pool.xs.map((x, i) => (pool.ys[i] ?? 0) - predict(fit, x))), 1),
  );
}

const logBytes = (bytes: number): number => Math.log1p(Math.max(0, Number.isFinite(bytes) ? bytes : 0));

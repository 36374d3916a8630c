import type { FittedModel, Forecast, Forecaster, PredictRequest, SeriesHistory } from "../forecaster.js";
import { empiricalCountCdf } from "../pit.js";
import { quantileSorted } from "../stats.js";
import {
  buildForecast,
  concurrencyRatio,
  type MinutePoint,
  sampleConfidence,
  validArrivals,
} from "./common.js";
import { loadTfjs, type TfCore, type TfLayers } from "./tfjs-runtime.js";

export interface LstmOptions {
  /** Minutes of input per window. */
  window: number;
  /** Minutes predicted at once (direct multi-output head); longer horizons hold the last value. */
  outputMinutes: number;
  units: number;
  /** Upper bound on passes over the training windows. */
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Windows sampled per series (the most recent first), so big series do not drown small ones. */
  windowsPerSeries: number;
  /** Training stops after this much compute time (ms), whatever the epoch; Infinity = epochs only. */
  timeBudgetMs: number;
}

export const LSTM_DEFAULTS: LstmOptions = {
  window: 30,
  outputMinutes: 60,
  units: 16,
  epochs: 20,
  batchSize: 256,
  learningRate: 0.01,
  windowsPerSeries: 40,
  timeBudgetMs: 30_000,
};

const FEATURES = 4; // scaled count, sin and cos of minute-of-day, the series' long-run mean
const seriesKey = (h: SeriesHistory): string => `${h.user}\u0000${h.taskType}`;

let runtime: { tf: TfCore; tfl: TfLayers } | null = null;

/** Loads tfjs on the wasm backend; until this resolves, the LSTM's fit throws and `auto` falls back. */
export async function prepareLstm(): Promise<void> {
  runtime = await loadTfjs();
}

export function lstmReady(): boolean {
  return runtime !== null;
}

interface Prepared {
  h: SeriesHistory;
  /** Counts divided by the series' mean non-zero size: sparse and dense series share one scale. */
  x: Float64Array;
  scale: number;
  /** Mean of x over the whole history: lets the net tell a quiet spell of a busy series from a rare one. */
  longRun: number;
}

function prepare(h: SeriesHistory): Prepared {
  const y = validArrivals(h, 1);
  let s = 0;
  let n = 0;
  for (const v of y)
    if (v > 0) {
      s += v;
      n++;
    }
  if (n === 0) throw new Error("lstm: no arrivals to learn from");
  const scale = s / n;
  return { h, x: y.map((v) => v / scale), scale, longRun: n / y.length };
}

/**
 * Writes one window's features into `out` at `offset` (timesteps × FEATURES), counts divided by the
 * window's level max(1, mean) (x is in busy-minute sizes, so sparse windows keep level 1), and returns
 * it: on dense windows "persist the recent mean" is then a target of 1 the net learns quickly.
 */
function writeWindow(p: Prepared, endIdx: number, window: number, out: Float32Array, offset: number): number {
  let sum = 0;
  for (let t = 0; t < window; t++) {
    const i = endIdx - window + t;
    sum += i >= 0 ? p.x[i]! : 0;
  }
  const level = Math.max(1, sum / window);
  for (let t = 0; t < window; t++) {
    const i = endIdx - window + t;
    const minute = p.h.startMinute + i;
    const angle = (2 * Math.PI * (((minute % 1440) + 1440) % 1440)) / 1440;
    const o = offset + t * FEATURES;
    out[o] = i >= 0 ? p.x[i]! / level : 0;
    out[o + 1] = Math.sin(angle);
    out[o + 2] = Math.cos(angle);
    out[o + 3] = p.longRun / level;
  }
  return level;
}

/**
 * One global LSTM over all series (per-series scaling by mean non-zero size), so that sparse series
 * borrow the shape learnt from others. Input: the last `window` scaled minutes with time-of-day and the
 * series' long-run mean; output: the next `outputMinutes` scaled counts. Intervals: empirical quantiles
 * of the series' own training residuals (in units of the window's level), times level and scale.
 */
export class LstmForecaster implements Forecaster {
  readonly name = "lstm";
  readonly o: LstmOptions;
  constructor(options: Partial<LstmOptions> = {}) {
    this.o = { ...LSTM_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const m = this.fitMany([h]).get(seriesKey(h));
    if (!m) throw new Error("lstm: series could not be fitted");
    return m;
  }

  /** Trains one model on every history and returns a fitted model per series (keyed user\0taskType). */
  fitMany(histories: SeriesHistory[]): Map<string, FittedModel> {
    if (!runtime) throw new Error("lstm: call prepareLstm() first");
    const { tf, tfl } = runtime;
    const o = this.o;
    const prepared: Prepared[] = [];
    for (const h of histories) {
      try {
        prepared.push(prepare(h));
      } catch {
        // Series without arrivals get no LSTM model; the caller's fallback covers them.
      }
    }
    if (prepared.length === 0) throw new Error("lstm: no series with arrivals");
    // Training windows: per series the most recent ones, stepping back by outputMinutes / 2.
    const ends: Array<[number, number]> = [];
    const step = Math.max(1, Math.floor(o.outputMinutes / 2));
    prepared.forEach((p, si) => {
      let taken = 0;
      for (
        let end = p.x.length - o.outputMinutes;
        end >= o.window && taken < o.windowsPerSeries;
        end -= step
      ) {
        ends.push([si, end]);
        taken++;
      }
    });
    if (ends.length === 0) throw new Error(`lstm: histories shorter than ${o.window + o.outputMinutes} min`);
    // Mini-batches must mix series: in caller order every epoch would end on the (many, mostly zero)
    // sparse series and pull the shared weights towards them. Seeded, so fits are repeatable.
    shuffleInPlace(ends, 0x9e3779b9);
    const xs = new Float32Array(ends.length * o.window * FEATURES);
    const ys = new Float32Array(ends.length * o.outputMinutes);
    ends.forEach(([si, end], w) => {
      const p = prepared[si]!;
      const level = writeWindow(p, end, o.window, xs, w * o.window * FEATURES);
      for (let k = 0; k < o.outputMinutes; k++) ys[w * o.outputMinutes + k] = p.x[end + k]! / level;
    });

    const model = tfl.sequential();
    model.add(tfl.layers.lstm({ units: o.units, inputShape: [o.window, FEATURES] }));
    model.add(tfl.layers.dense({ units: o.outputMinutes }));
    const optimizer = tf.train.adam(o.learningRate);
    const X = tf.tensor3d(xs, [ends.length, o.window, FEATURES]);
    const Y = tf.tensor2d(ys, [ends.length, o.outputMinutes]);
    const started = performance.now();
    let epochsRun = 0;
    try {
      for (let e = 0; e < o.epochs && performance.now() - started < o.timeBudgetMs; e++) {
        for (let b = 0; b < ends.length && performance.now() - started < o.timeBudgetMs; b += o.batchSize) {
          const size = Math.min(o.batchSize, ends.length - b);
          optimizer.minimize(() => {
            const xb = tf.slice(X, [b, 0, 0], [size, -1, -1]);
            const yb = tf.slice(Y, [b, 0], [size, -1]);
            const out = model.apply(xb, { training: true }) as import("@tensorflow/tfjs-core").Tensor;
            return tf.losses.meanSquaredError(yb, out) as import("@tensorflow/tfjs-core").Scalar;
          });
        }
        epochsRun++;
      }
      // Residuals of the training windows, per series (pooled over steps ahead): a global pool would give
      // dense series the narrow intervals of the many sparse ones. Series without windows use the pool.
      const fitted = tf.tidy(() => model.predict(X) as import("@tensorflow/tfjs-core").Tensor).dataSync();
      const perSeries: number[][] = prepared.map(() => []);
      const pooled: number[] = [];
      ends.forEach(([si], w) => {
        for (let k = 0; k < o.outputMinutes; k++) {
          const r = ys[w * o.outputMinutes + k]! - fitted[w * o.outputMinutes + k]!;
          perSeries[si]!.push(r);
          if (pooled.length < 100_000) pooled.push(r);
        }
      });
      const pooledSorted = Float64Array.from(pooled).sort();
      const residuals = perSeries.map((r) => (r.length > 0 ? Float64Array.from(r).sort() : pooledSorted));
      // Forecast paths from each series' end.
      const last = new Float32Array(prepared.length * o.window * FEATURES);
      const levels = prepared.map((p, i) =>
        writeWindow(p, p.x.length, o.window, last, i * o.window * FEATURES),
      );
      const paths = tf.tidy(() => {
        const input = tf.tensor3d(last, [prepared.length, o.window, FEATURES]);
        return model.predict(input) as import("@tensorflow/tfjs-core").Tensor;
      });
      const pathData = paths.dataSync();
      paths.dispose();
      const out = new Map<string, FittedModel>();
      const confidence = sampleConfidence(epochsRun * ends.length, 5000);
      prepared.forEach((p, i) => {
        const path = Float64Array.from(pathData.subarray(i * o.outputMinutes, (i + 1) * o.outputMinutes));
        out.set(seriesKey(p.h), new LstmModel(p, levels[i]! * p.scale, path, residuals[i]!, confidence));
      });
      return out;
    } finally {
      X.dispose();
      Y.dispose();
      optimizer.dispose();
      model.dispose();
    }
  }
}

class LstmModel implements FittedModel {
  readonly model = "lstm";
  private readonly concRatio: number;
  constructor(
    private readonly p: Prepared,
    /** Counts per unit of the net's output: the series' scale × the last window's level. */
    private readonly unit: number,
    private readonly path: Float64Array,
    private readonly residuals: Float64Array,
    private readonly confidence: number,
  ) {
    this.concRatio = concurrencyRatio(p.h);
  }

  predict(req: PredictRequest): Forecast {
    const end = this.p.h.startMinute + this.p.h.arrivals.length;
    const t = (1 - req.level) / 2;
    const points: MinutePoint[] = [];
    for (let k = 0; k < req.horizon; k++) {
      const j = Math.min(this.path.length - 1, Math.max(0, req.fromMinute + k - end));
      const e = Math.max(0, this.path[j]!);
      const r = this.residuals;
      const expected = e * this.unit;
      points.push({
        expected,
        lower: Math.max(0, (e + quantileSorted(r, t)) * this.unit),
        upper: Math.max(expected, (e + quantileSorted(r, 1 - t)) * this.unit),
        pAny: 1 - Math.exp(-expected),
        cdf: empiricalCountCdf(r, expected, this.unit),
      });
    }
    return buildForecast(this.p.h, this.model, req, points, this.confidence, this.concRatio);
  }
}

/** Fisher–Yates with a small seeded generator (mulberry32). */
function shuffleInPlace<T>(items: T[], seed: number): void {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

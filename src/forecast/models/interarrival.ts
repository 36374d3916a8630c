import type {
  FittedModel,
  Forecast,
  Forecaster,
  MinuteForecast,
  PredictRequest,
  SeriesHistory,
} from "../forecaster.js";
import { empiricalCountCdf, zeroInflatedCdf } from "../pit.js";
import { resourceForecast } from "../resources.js";
import { mean, quantileSorted } from "../stats.js";

export interface InterArrivalOptions {
  /** Longest idle gap kept in the histogram, minutes; longer gaps count as "out of range". */
  rangeMinutes: number;
  /** Pseudo-count that pulls the confidence down for short histories. */
  priorSamples: number;
}

export const INTERARRIVAL_DEFAULTS: InterArrivalOptions = { rangeMinutes: 2880, priorSamples: 5 };

/**
 * Per-series histogram of the gaps between busy minutes (1-minute bins), treated as a renewal
 * process: given the time since the last arrival, it gives the probability of an arrival in every
 * future minute. Cheap, robust for sparse and clockwork series; blind to time of day.
 */
export class InterArrivalForecaster implements Forecaster {
  readonly name = "interarrival";
  private readonly o: InterArrivalOptions;
  constructor(options: Partial<InterArrivalOptions> = {}) {
    this.o = { ...INTERARRIVAL_DEFAULTS, ...options };
  }

  fit(h: SeriesHistory): FittedModel {
    const busy: number[] = [];
    const counts: number[] = [];
    const conc: number[] = [];
    for (let i = 0; i < h.arrivals.length; i++) {
      const n = h.arrivals[i]!;
      if (!Number.isFinite(n) || n < 0) throw new Error(`arrivals[${i}] = ${n}`);
      if (n > 0) {
        busy.push(h.startMinute + i);
        counts.push(n);
        conc.push(Math.max(1, h.concurrency?.[i] ?? 1));
      }
    }
    if (busy.length === 0) throw new Error("no arrivals to learn from");
    const range = this.o.rangeMinutes;
    // pmf[g] for g in 1..range; pmf[0] unused. Out-of-range gaps only lower the in-range mass.
    const pmf = new Float64Array(range + 1);
    let gaps = 0;
    const gapList: number[] = [];
    for (let i = 1; i < busy.length; i++) {
      const g = busy[i]! - busy[i - 1]!;
      gapList.push(g);
      gaps++;
      if (g <= range) pmf[g]! += 1;
    }
    if (gaps > 0) for (let g = 1; g <= range; g++) pmf[g]! /= gaps;
    const sortedCounts = Float64Array.from(counts).sort();
    const sortedConc = Float64Array.from(conc).sort();
    // Confidence: enough gaps, and gaps that agree with each other (coefficient of variation).
    let confidence = 0;
    if (gaps > 0) {
      const m = mean(gapList);
      const sd = Math.sqrt(mean(gapList.map((g) => (g - m) ** 2)));
      const cv = m > 0 ? sd / m : 0;
      confidence = (gaps / (gaps + this.o.priorSamples)) * (1 / (1 + cv));
    }
    return new InterArrivalModel(h, pmf, gaps, busy[busy.length - 1]!, sortedCounts, sortedConc, confidence);
  }
}

class InterArrivalModel implements FittedModel {
  readonly model = "interarrival";
  constructor(
    private readonly h: SeriesHistory,
    private readonly pmf: Float64Array,
    private readonly gaps: number,
    private readonly lastBusy: number,
    private readonly counts: Float64Array,
    private readonly conc: Float64Array,
    private readonly confidence: number,
  ) {}

  predict(req: PredictRequest): Forecast {
    const last = Math.max(this.lastBusy, req.lastArrivalMinute ?? this.lastBusy);
    const H = req.horizon;
    const range = this.pmf.length - 1;
    const p = new Float64Array(H);
    if (this.gaps > 0) {
      // Survival past the minutes already seen idle: S(s) = P(gap > s), s = minutes since `last` before fromMinute.
      const s = Math.max(0, req.fromMinute - 1 - last);
      let survival = 1;
      for (let g = 1; g <= Math.min(s, range); g++) survival -= this.pmf[g]!;
      // First arrival after `last`, conditioned on none up to fromMinute-1 …
      for (let k = 0; k < H; k++) {
        const g = req.fromMinute + k - last;
        p[k] = survival > 1e-12 && g >= 1 && g <= range ? this.pmf[g]! / survival : 0;
      }
      // … plus renewals: an arrival at k makes later arrivals at k + g with pmf[g].
      for (let k = 0; k < H; k++) {
        const pk = p[k]!;
        if (pk < 1e-9) continue;
        for (let g = 1; k + g < H && g <= range; g++) p[k + g]! += pk * this.pmf[g]!;
      }
    }
    const tail = (1 - req.level) / 2;
    const countExp = mean(this.counts);
    const concExp = mean(this.conc);
    const cUp = quantileSorted(this.counts, 1 - tail);
    const cLo = quantileSorted(this.counts, tail);
    const kUp = quantileSorted(this.conc, 1 - tail);
    const kLo = quantileSorted(this.conc, tail);
    const sizes = empiricalCountCdf(this.counts);
    const minutes: MinuteForecast[] = [];
    for (let k = 0; k < H; k++) {
      const pAny = Math.min(1, p[k]!);
      minutes.push({
        minute: req.fromMinute + k,
        pAny,
        cdf: zeroInflatedCdf(1 - pAny, sizes),
        arrivals: {
          expected: pAny * countExp,
          lower: pAny >= 1 - tail ? cLo : 0,
          upper: pAny >= tail ? cUp : 0,
        },
        concurrency: {
          expected: pAny * concExp,
          lower: pAny >= 1 - tail ? kLo : 0,
          upper: pAny >= tail ? kUp : 0,
        },
      });
    }
    return {
      user: this.h.user,
      taskType: this.h.taskType,
      model: this.model,
      level: req.level,
      fromMinute: req.fromMinute,
      minutes,
      confidence: this.confidence,
      resources: resourceForecast(this.h.resources, req.level),
    };
  }
}

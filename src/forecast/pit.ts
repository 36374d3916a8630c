/**
 * Predictive distributions of per-minute counts, and the probability integral transform (PIT) that
 * judges them. An interval on integer counts cannot cover exactly 80 % (a [0, 0] interval covers every
 * zero), so calibration is measured the way Czado, Gneiting & Held (2009) do for count data: an actual
 * y under a predictive CDF F maps to the uniform interval [F(y − 1), F(y)], and the "PIT coverage" at
 * level L is the share of that interval inside [(1 − L)/2, (1 + L)/2]. For a calibrated forecaster
 * its mean is L, whatever the discreteness.
 */
import { upperBound } from "../core/sorted.js";
import { normalCdf } from "./stats.js";

/** P(Y ≤ count) for whole counts ≥ 0. */
export type CountCdf = (count: number) => number;

/** Poisson(λ). Above λ = 500 the normal approximation with continuity correction (no underflow). */
export function poissonCdf(lambda: number): CountCdf {
  const l = Number.isFinite(lambda) && lambda > 0 ? lambda : 0;
  if (l === 0) return (y) => (y >= 0 ? 1 : 0);
  if (l > 500) return normalCountCdf(l, Math.sqrt(l));
  return (y) => {
    if (y < 0) return 0;
    let p = Math.exp(-l);
    let s = p;
    for (let k = 1; k <= y; k++) {
      p *= l / k;
      s += p;
      if (p < 1e-16 && k > l) break;
    }
    return Math.min(1, s);
  };
}

/** A normal N(mean, sd²) rounded to the nearest count, its mass below zero put on zero. */
export function normalCountCdf(mean: number, sd: number): CountCdf {
  if (!(sd > 0)) return (y) => (y >= 0 && mean <= y + 0.5 ? 1 : 0);
  return (y) => (y < 0 ? 0 : normalCdf((y + 0.5 - mean) / sd));
}

/** shift + scale·V rounded to the nearest count, V drawn from an ascending sample (below zero → zero). */
export function empiricalCountCdf(sorted: ArrayLike<number>, shift = 0, scale = 1): CountCdf {
  const n = sorted.length;
  if (n === 0 || !(scale > 0)) return (y) => (y >= 0 && shift <= y + 0.5 ? 1 : 0);
  return (y) => (y < 0 ? 0 : upperBound(sorted, (y + 0.5 - shift) / scale) / n);
}

/** Zero with probability p0, else a draw from `inner` (TSB's and the inter-arrival model's mixture). */
export function zeroInflatedCdf(p0: number, inner: CountCdf): CountCdf {
  const z = Math.min(1, Math.max(0, p0));
  return (y) => (y < 0 ? 0 : z + (1 - z) * inner(y));
}

/** The PIT interval [F(y − 1), F(y)] of a whole count y, clamped and ordered. */
export function pitBounds(cdf: CountCdf, y: number): [number, number] {
  const c = Math.max(0, Math.round(y));
  const clamp = (v: number) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);
  const b = clamp(cdf(c));
  const a = c > 0 ? Math.min(b, clamp(cdf(c - 1))) : 0;
  return [a, b];
}

/** Share of the uniform PIT interval [a, b] inside [lo, hi] (a point mass when a = b). */
export function pitShareInside(a: number, b: number, lo: number, hi: number): number {
  if (b <= a) return a >= lo && a <= hi ? 1 : 0;
  return Math.max(0, Math.min(b, hi) - Math.max(a, lo)) / (b - a);
}

/** PIT coverage of one actual at a central level, e.g. 0.8 → share inside [0.1, 0.9]. */
export function pitCoverage(cdf: CountCdf, y: number, level: number): number {
  const [a, b] = pitBounds(cdf, y);
  const t = (1 - level) / 2;
  return pitShareInside(a, b, t, 1 - t);
}

/**
 * The empirical CDF of non-randomised PIT values (Czado et al.'s F̄(u), the mean of the uniform CDFs
 * on each [a, b]) shrunk towards the identity by `prior` pseudo-points. Used to recalibrate a model:
 * G = R∘F is calibrated on the sample the PIT values came from (Kuleshov et al. 2018).
 */
export class PitRecalibration {
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  constructor(
    bounds: ReadonlyArray<readonly [number, number]>,
    private readonly prior = 30,
  ) {
    this.a = Float64Array.from(bounds, (x) => x[0]);
    this.b = Float64Array.from(bounds, (x) => x[1]);
  }

  get size(): number {
    return this.a.length;
  }

  /** R(u): share of the PIT mass at or below u. */
  map(u: number): number {
    const v = Math.min(1, Math.max(0, u));
    let s = 0;
    for (let i = 0; i < this.a.length; i++) {
      const a = this.a[i]!;
      const b = this.b[i]!;
      s += v >= b ? 1 : v <= a ? 0 : (v - a) / (b - a);
    }
    return (s + this.prior * v) / (this.a.length + this.prior);
  }

  /** R⁻¹(p) by bisection (R is non-decreasing and, with a prior > 0, strictly increasing). */
  inverse(p: number): number {
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (this.map(mid) < p) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }
}

/** Seeded random draws for the synthetic series of the forecasting tests (same on every run). */

import { mulberry32 } from "../random.js";

/** mulberry32: a small, well-mixed 32-bit PRNG. */
export const rng = mulberry32;

/** A Poisson(λ) draw by inversion (λ small to moderate). */
export function poissonDraw(lambda: number, u: number): number {
  let k = 0;
  let p = Math.exp(-lambda);
  let s = p;
  while (u > s && k < 10_000) {
    k++;
    p *= lambda / k;
    s += p;
  }
  return k;
}

/** Seeded random draws for the synthetic series of the forecasting tests (same on every run). */

/** mulberry32: a small, well-mixed 32-bit PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

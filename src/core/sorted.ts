/** Sorted number arrays: binary searches and a garbage-free insert (planner pools, forecast CDFs). */

/** First index whose value is ≥ x. */
export function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** a.splice(i, 0, v) without the garbage (splice returns a fresh array of the removed elements). */
export function insertAt(a: number[], i: number, v: number): void {
  let k = a.length;
  a.push(v);
  for (; k > i; k--) a[k] = a[k - 1]!;
  a[i] = v;
}

/** First index whose value is > x: the number of values ≤ x. */
export function upperBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sorted number arrays: binary searches and a garbage-free insert (planner pools, forecast CDFs). */

/** First index in [from, to) whose value is ≥ x (`to` when none). */
export function lowerBound(sorted: ArrayLike<number>, x: number, from = 0, to = sorted.length): number {
  let lo = from;
  let hi = to;
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

/** Buckets holding more than this are sorted with a comparator instead of by insertion. */
const INSERTION_LIMIT = 64;

/**
 * The permutation that sorts `values` ascending, ties in index order (a stable argsort), in about
 * linear time for values spread over their range: a counting sort into `values.length` equal-width
 * buckets, then each bucket by insertion (or, when crowded, by comparison). A comparator sort of 3 M
 * indices was a quarter of an M2 replay of Azure 2019.
 */
export function stableArgsort(values: ArrayLike<number>): Int32Array {
  const n = values.length;
  const order = new Int32Array(n);
  let sorted = true;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let finite = true;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (i > 0 && v < values[i - 1]!) sorted = false;
    if (v < min) min = v;
    if (v > max) max = v;
    if (!Number.isFinite(v)) finite = false;
  }
  for (let i = 0; i < n; i++) order[i] = i;
  if (finite && (sorted || !(max > min))) return order;
  const byValue = (x: number, y: number) => values[x]! - values[y]! || x - y;
  // Bucket of v: ⌊(v − min)/width⌋, monotone in v, so buckets are in value order.
  const width = (max - min) / n;
  // NaN or ±∞ have no bucket, nor a range that underflows (denormals) or overflows (near ±1e308):
  // the comparator sort (loaders reject non-finite times anyway).
  if (!finite || !(width > 0 && Number.isFinite(width))) return order.sort(byValue);
  const bucket = (v: number) => Math.min(n - 1, Math.floor((v - min) / width));
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[bucket(values[i]!) + 1]! += 1;
  for (let b = 0; b < n; b++) start[b + 1]! += start[b]!;
  const fill = start.slice(0, n);
  for (let i = 0; i < n; i++) order[fill[bucket(values[i]!)]!++] = i;
  for (let b = 0; b < n; b++) {
    const from = start[b]!;
    const to = start[b + 1]!;
    if (to - from < 2) continue;
    if (to - from > INSERTION_LIMIT) {
      // Crowded (values clustered in a narrow range): O(k log k), not insertion's O(k²).
      order.subarray(from, to).sort(byValue);
      continue;
    }
    // Indices arrive in ascending order, so moving only past strictly larger values keeps ties stable.
    for (let i = from + 1; i < to; i++) {
      const idx = order[i]!;
      const v = values[idx]!;
      let j = i - 1;
      while (j >= from && values[order[j]!]! > v) {
        order[j + 1] = order[j]!;
        j--;
      }
      order[j + 1] = idx;
    }
  }
  return order;
}

/**
 * Strings in code-unit order, for deterministic tie-breaks: the same on every machine (localeCompare
 * depends on the ICU locale) and far cheaper — plan sorts compare hundreds of series names per cycle.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

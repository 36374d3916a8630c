import { insertAt, lowerBound } from "../core/sorted.js";

/**
 * The open gaps of a pool (gap-pool.ts): how many apps have been waiting since each minute. Was a
 * Map<minute, count>; its set/delete churn on every decision was a hot spot and a source of garbage.
 * Sorted parallel arrays instead: in replay minutes arrive in order, so entering appends and leaving is
 * a binary search; minutes whose count drops to 0 are dropped in batches. Any order stays correct.
 */
export class OpenGaps {
  /** Ascending start minutes (some with count 0 until the next sweep). */
  readonly minute: number[] = [];
  readonly count: number[] = [];
  /** Open gaps in all. */
  total = 0;
  private zeros = 0;

  enter(last: number): void {
    const m = this.minute;
    const k = m.length;
    let i = k;
    if (k > 0 && !(m[k - 1]! < last)) i = lowerBound(m, last);
    if (i < k && m[i] === last) {
      if (this.count[i] === 0) this.zeros--;
      this.count[i]!++;
    } else {
      insertAt(m, i, last);
      insertAt(this.count, i, 1);
    }
    this.total++;
  }

  /** One app waiting since `last` stopped waiting; false if none was. */
  leave(last: number): boolean {
    const m = this.minute;
    const i = lowerBound(m, last);
    if (i >= m.length || m[i] !== last || this.count[i] === 0) return false;
    if (--this.count[i]! === 0 && ++this.zeros > 16 && 2 * this.zeros > m.length) this.sweep();
    this.total--;
    return true;
  }

  /** Drops the minutes nobody waits since any more. */
  private sweep(): void {
    const m = this.minute;
    const c = this.count;
    let k = 0;
    for (let i = 0; i < m.length; i++) {
      if (c[i] === 0) continue;
      m[k] = m[i]!;
      c[k++] = c[i]!;
    }
    m.length = k;
    c.length = k;
    this.zeros = 0;
  }
}

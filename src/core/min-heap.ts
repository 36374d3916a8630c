/** Binary min-heap of (key, tie, value) triples: ties broken by `tie` for deterministic order. */
export class MinHeap {
  private readonly key: number[] = [];
  private readonly tie: number[] = [];
  private readonly value: number[] = [];

  get size(): number {
    return this.key.length;
  }

  peekKey(): number {
    return this.key[0] ?? Number.POSITIVE_INFINITY;
  }

  /** The tie of the smallest entry (NaN when empty). */
  peekTie(): number {
    return this.tie[0] ?? Number.NaN;
  }

  push(key: number, tie: number, value: number): void {
    this.key.push(key);
    this.tie.push(tie);
    this.value.push(value);
    let i = this.key.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the smallest entry; returns its value. */
  pop(): number {
    const top = this.value[0]!;
    const last = this.key.length - 1;
    this.swap(0, last);
    this.key.pop();
    this.tie.pop();
    this.value.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.key.length && this.less(l, m)) m = l;
      if (r < this.key.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    return this.key[a]! < this.key[b]! || (this.key[a] === this.key[b] && this.tie[a]! < this.tie[b]!);
  }

  // Element by element: a destructuring swap builds two arrays per call (a replay swaps millions of times).
  private swap(a: number, b: number): void {
    const k = this.key[a]!;
    this.key[a] = this.key[b]!;
    this.key[b] = k;
    const t = this.tie[a]!;
    this.tie[a] = this.tie[b]!;
    this.tie[b] = t;
    const v = this.value[a]!;
    this.value[a] = this.value[b]!;
    this.value[b] = v;
  }
}

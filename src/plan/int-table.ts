/**
 * A map from whole-number keys (0 ≤ key < 2^53) to int32 values, open addressing in typed arrays: the
 * forewarm learner's (previous-gap class, app) → histogram lookup, twice per decision. A Map call was
 * most of the learner's own time (issue 7); this probe inlines and leaves no garbage.
 */
const EMPTY = -1;

export class IntTable {
  private keys: Float64Array;
  private values: Int32Array;
  private mask: number;
  /** Keys held. */
  size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < 2 * capacity) n *= 2;
    this.keys = new Float64Array(n).fill(EMPTY);
    this.values = new Int32Array(n);
    this.mask = n - 1;
  }

  /** The value of `key`, or −1 when absent. */
  get(key: number): number {
    const keys = this.keys;
    for (let i = slot(key, this.mask); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return this.values[i]!;
      if (k === EMPTY) return -1;
    }
  }

  /** Sets `key` to `value` (kept under half full, so probes stay short). */
  set(key: number, value: number): void {
    if (2 * (this.size + 1) > this.keys.length) this.grow();
    const keys = this.keys;
    let i = slot(key, this.mask);
    while (keys[i] !== key && keys[i] !== EMPTY) i = (i + 1) & this.mask;
    if (keys[i] === EMPTY) {
      keys[i] = key;
      this.size++;
    }
    this.values[i] = value;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const n = 2 * oldKeys.length;
    this.keys = new Float64Array(n).fill(EMPTY);
    this.values = new Int32Array(n);
    this.mask = n - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldValues[i]!);
  }
}

/** Fibonacci hashing of the key's low and high 32 bits. */
function slot(key: number, mask: number): number {
  const h = Math.imul((key >>> 0) ^ Math.imul((key / 4294967296) >>> 0, 0x85ebca6b), 0x9e3779b1);
  return (h ^ (h >>> 16)) & mask;
}

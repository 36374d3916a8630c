/**
 * Bounded priority queue of waiting tasks: higher priority first, then first come first served.
 * Small (bounded by configuration), so a sorted array keeps it simple and iteration in order cheap.
 */
export interface Queued {
  id: string;
  priority: number;
  seq: number;
}

export class TaskQueue<T extends { id: string; priority: number }> {
  private items: { item: T; seq: number }[] = [];
  private seq = 0;
  constructor(readonly maxLength: number) {}

  get length(): number {
    return this.items.length;
  }

  /** False when full: the caller answers 429 and records nothing. */
  offer(item: T): boolean {
    if (this.items.length >= this.maxLength) return false;
    const entry = { item, seq: this.seq++ };
    let i = this.items.length;
    while (i > 0) {
      const prev = this.items[i - 1]!;
      if (prev.item.priority >= item.priority) break;
      i--;
    }
    this.items.splice(i, 0, entry);
    return true;
  }

  /**
   * Puts back an item taken out to be served that could not start: first among its priority (it was
   * there before the later ones), and past the bound, which is for new submissions only.
   */
  putBack(item: T): void {
    const i = this.items.findIndex((e) => e.item.priority <= item.priority);
    this.items.splice(i < 0 ? this.items.length : i, 0, { item, seq: this.seq++ });
  }

  /** Items in the order they should be served. */
  ordered(): T[] {
    return this.items.map((e) => e.item);
  }

  remove(id: string): boolean {
    const i = this.items.findIndex((e) => e.item.id === id);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  drain(): T[] {
    const all = this.ordered();
    this.items = [];
    return all;
  }
}

/**
 * The forewarm learner's window kept per (previous-gap class, app), by the id of the histogram
 * conditioned on that class (issue 7): a bursty app alternating between classes takes the window last
 * computed for the class it is in instead of recomputing at every switch. Pure: typed columns only.
 */
export class ClassWindows {
  pw = new Float64Array(0);
  ka = new Float64Array(0);
  private price = new Float64Array(0);
  /** The app's gaps seen when the window was computed (for the refresh rule). */
  obs = new Float64Array(0);
  /** The app's detected pattern changes when the window was computed (a change voids it). */
  private changes = new Float64Array(0);

  /** Whether class `id`'s window may be reused at `price` by an app with `obs` gaps and `changes`. */
  usable(id: number, price: number, changes: number, obs: number, refresh: number): boolean {
    return (
      id >= 0 &&
      id < this.price.length &&
      this.price[id] === price &&
      this.changes[id] === changes &&
      obs < this.obs[id]! * refresh
    );
  }

  /** Keeps (pw, ka] as class `id`'s window. */
  keep(id: number, pw: number, ka: number, price: number, obs: number, changes: number): void {
    if (id >= this.price.length) {
      const n = Math.max(2 * this.price.length, id + 1);
      const grow = (a: Float64Array, fill = 0) => {
        const b = new Float64Array(n).fill(fill);
        b.set(a);
        return b;
      };
      this.pw = grow(this.pw);
      this.ka = grow(this.ka);
      this.price = grow(this.price, Number.NaN);
      this.obs = grow(this.obs);
      this.changes = grow(this.changes);
    }
    this.pw[id] = pw;
    this.ka[id] = ka;
    this.price[id] = price;
    this.obs[id] = obs;
    this.changes[id] = changes;
  }

  /** Class `id`'s window missed: it is not handed out again (its class's successor may have moved). */
  void(id: number): void {
    if (id >= 0 && id < this.price.length) this.price[id] = Number.NaN;
  }
}

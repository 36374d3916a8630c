/**
 * Window choice: given the distribution of an app's next arrival, the prewarm `pw` and keep-alive `ka`
 * (the app is loaded in the minutes m with now + pw < m ≤ now + pw + ka) that minimise
 *
 *   expected cost = coldPenalty × P(next arrival outside the window) + price × E[loaded idle minutes],
 *
 * in model M1's accounting (design.md; src/sim/m1.ts): the next busy minute t2 is warm iff
 * now + pw < t2 ≤ now + pw + ka, and the idle loaded minutes are those of the window before t2 (minute
 * now + j is loaded and idle iff pw < j ≤ pw + ka and t2 > now + j; after t2 the next decision replaces
 * the window). So with H = t2 − now, F(x) = P(H ≤ x), IDLE(x) = Σ_{j=1..x} P(H > j):
 *
 *   cost(pw, e = pw + ka) = C·(1 − F(e) + F(pw)) + λ·(IDLE(e) − IDLE(pw)),
 *
 * separable into A(pw) = C·F(pw) − λ·IDLE(pw) and B(e) = λ·IDLE(e) − C·F(e). For a distribution made of
 * atoms the optimum has e on an atom and pw just before one (moving either bound over empty minutes
 * only adds idle time), so one pass over the atoms with a running minimum of A is exact: O(atoms).
 * Pure: `now` is the caller's; nothing reads a clock.
 */
import type { GapAtoms } from "./idle-distribution.js";

export interface WindowParams {
  /** Cost of one cold start (the unit; 1 by default). */
  coldPenalty: number;
  /** Cost of one loaded idle minute of this app (memory weight already applied), in cold starts. */
  price: number;
  /** Latest window end, minutes after now (a forecast horizon); Infinity = none. */
  maxEnd: number;
}

export const WINDOW_DEFAULTS: WindowParams = {
  coldPenalty: 1,
  price: 0.001,
  maxEnd: Number.POSITIVE_INFINITY,
};

export interface WindowChoice {
  /** Minutes after now before the app is loaded. */
  pw: number;
  /** Minutes loaded after the prewarm; 0 = unload (do not keep it loaded at all). */
  ka: number;
  expectedCost: number;
  /** P(the next arrival falls outside (pw, pw + ka]). */
  pMiss: number;
  /** E[loaded idle minutes before the next arrival]. */
  expectedIdle: number;
  /** Why: the numbers that justified the window (filled by chooseWindow, empty on the fast path). */
  reason: string;
}

export function emptyChoice(): WindowChoice {
  return { pw: 0, ka: 0, expectedCost: 0, pMiss: 1, expectedIdle: 0, reason: "" };
}

/**
 * The window for an app whose last arrival was `idleSoFar` minutes before now, with gaps (t2 − last)
 * distributed as `dist`. Allocation-free: writes into `out` (the replay's hot path).
 */
export function chooseWindowInto(
  dist: GapAtoms,
  idleSoFar: number,
  params: WindowParams,
  out: WindowChoice,
): WindowChoice {
  const C = params.coldPenalty;
  const price = params.price;
  // Distributions are normalised: only time already spent idle needs the survival sum.
  let survival = 1;
  if (idleSoFar > 0) {
    survival = dist.tail;
    for (let i = 0; i < dist.size; i++) if (dist.gap[i]! > idleSoFar) survival += dist.prob[i]!;
  }
  // Unloading costs one cold start for sure (or nothing, if no arrival can come).
  out.pw = 0;
  out.ka = 0;
  out.pMiss = 1;
  out.expectedIdle = 0;
  out.expectedCost = survival > 0 ? C : 0;
  out.reason = "";
  if (!(survival > 1e-12)) return out;
  const norm = 1 / survival;
  let Q = 0; // F at the previous atom
  let M = 0; // Σ q·h up to the previous atom
  let bestA = 0; // A(0) = 0
  let bestPw = 0;
  let bestPwF = 0;
  let bestPwIdle = 0;
  for (let i = 0; i < dist.size; i++) {
    const h = dist.gap[i]! - idleSoFar;
    if (h < 1) continue;
    if (h > params.maxEnd) break;
    const q = dist.prob[i]! * norm;
    if (h > 1) {
      const idlePw = h - 1 - h * Q + M;
      const a = C * Q - price * idlePw;
      if (a < bestA) {
        bestA = a;
        bestPw = h - 1;
        bestPwF = Q;
        bestPwIdle = idlePw;
      }
    }
    Q += q;
    M += q * h;
    const idleE = h - (h + 1) * Q + M;
    const cost = C + bestA + price * idleE - C * Q;
    if (cost < out.expectedCost - 1e-12) {
      out.expectedCost = cost;
      out.pw = bestPw;
      out.ka = h - bestPw;
      out.pMiss = 1 - (Q - bestPwF);
      out.expectedIdle = idleE - bestPwIdle;
    }
    // No later end can do better: stretching any (pw, h] to a later end gains at most C × the mass
    // left (1 − Q), and a window that starts at h or later misses at least Q. Exact for whole-minute
    // gaps and idleSoFar (M1's windows; every caller) and a normalised distribution, up to round-off
    // ties (there it keeps the shorter window); only sooner (mixtures with a small prior share).
    if (cost - C * (1 - Q) >= out.expectedCost && C * Q >= out.expectedCost) break;
  }
  // Round-off can leave −1e-17.
  if (out.pMiss < 0) out.pMiss = 0;
  return out;
}

/** chooseWindowInto with a fresh result and a human-readable reason (for /v1/plan and logs). */
export function chooseWindow(
  dist: GapAtoms,
  idleSoFar: number,
  params: Partial<WindowParams> = {},
): WindowChoice {
  const p = { ...WINDOW_DEFAULTS, ...params };
  const c = chooseWindowInto(dist, idleSoFar, p, emptyChoice());
  c.reason = explainWindow(c, p);
  return c;
}

export function explainWindow(c: WindowChoice, p: WindowParams): string {
  const costs = `cold ${p.coldPenalty} vs ${p.price.toPrecision(3)}/idle min`;
  if (c.ka === 0)
    return `unload: a window would cost more than the expected cold start (${costs}, P(arrival) ${(1 - c.pMiss).toFixed(3)})`;
  return (
    `load (now+${c.pw}, now+${c.pw + c.ka}]: P(miss) ${c.pMiss.toFixed(3)}, ` +
    `E[idle] ${c.expectedIdle.toFixed(1)} min, expected cost ${c.expectedCost.toFixed(4)} (${costs})`
  );
}

/**
 * Price calibration by bisection on log(price), for budgets ("at most X % of fixed-10 memory") and
 * targets ("cold starts under Y %"). `measure(price)` scores a candidate price on data the caller
 * already has (a replay prefix: the past only); `metric` must fall as the price rises (waste) or rise
 * with it (cold starts) — `wasteLike` says which. Returns the cheapest price meeting the goal, or the
 * bound that comes closest.
 */
export function calibratePrice(
  measure: (price: number) => number,
  goal: number,
  wasteLike: boolean,
  lo = 1e-7,
  hi = 10,
  steps = 14,
): number {
  const search = priceSearch(goal, wasteLike, lo, hi, steps);
  let next = search.next();
  while (!next.done) next = search.next(measure(next.value));
  return next.value;
}

/**
 * calibratePrice as a generator: yields each candidate price, is resumed with its measured metric,
 * returns the price. Lets a live caller spread the (expensive) measurements over several turns of
 * the event loop while replay drives it synchronously — one search, two schedules.
 */
export function* priceSearch(
  goal: number,
  wasteLike: boolean,
  lo = 1e-7,
  hi = 10,
  steps = 14,
): Generator<number, number, number> {
  let a = Math.log(lo);
  let b = Math.log(hi);
  // Waste falls with price: the smallest price meeting the budget buys the fewest cold starts.
  // Cold starts rise with price: the largest price meeting the target saves the most memory.
  if (wasteLike) {
    if ((yield lo) <= goal) return lo;
    if (!((yield hi) <= goal)) return hi;
    for (let k = 0; k < steps; k++) {
      const m = (a + b) / 2;
      if ((yield Math.exp(m)) <= goal) b = m;
      else a = m;
    }
    return Math.exp(b);
  }
  if ((yield hi) <= goal) return hi;
  if (!((yield lo) <= goal)) return lo;
  for (let k = 0; k < steps; k++) {
    const m = (a + b) / 2;
    if ((yield Math.exp(m)) <= goal) a = m;
    else b = m;
  }
  return Math.exp(a);
}

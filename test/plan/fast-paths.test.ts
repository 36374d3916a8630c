/**
 * The speed structures of issue 7 against straightforward computations of the same thing, on random
 * inputs: equal to the last bit, since replay results must not move (README's figures).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GapPool, mixAtoms, spreadUnknown } from "../../src/plan/gap-pool.js";
import { HistogramSlab } from "../../src/plan/histogram-slab.js";
import { emptyAtoms, type GapAtoms, IDLE_DISTRIBUTION_DEFAULTS } from "../../src/plan/idle-distribution.js";
import { MixtureWindow } from "../../src/plan/mixture-window.js";
import { OpenGaps } from "../../src/plan/open-gaps.js";
import { atomMassIn, newPoolTicket, PooledGaps } from "../../src/plan/pooled-gaps.js";
import { RatioPrior } from "../../src/plan/ratio-prior.js";
import { chooseWindowInto, emptyChoice, type WindowParams } from "../../src/plan/window-policy.js";
import { mulberry32 } from "../random.js";
import { IdleDistribution } from "./idle-distribution-reference.js";

/** Deterministic uniform [0, 1). */
const rng = mulberry32;

/** Random gaps: a few favourite periods plus noise, sometimes beyond the range. */
function gapSource(r: () => number, range: number): () => number {
  const periods = [1, 2 + Math.floor(r() * 20), 30 + Math.floor(r() * 200), 1440];
  return () => {
    const u = r();
    if (u < 0.05) return range + 1 + Math.floor(r() * range);
    if (u < 0.25) return 1 + Math.floor(r() * Math.min(range, 3000));
    return Math.min(range, periods[Math.floor(r() * periods.length)]!);
  };
}

function randomAtoms(r: () => number, n: number, range: number, tail: number): GapAtoms {
  const gaps = new Set<number>();
  while (gaps.size < n) gaps.add(1 + Math.floor(r() * (r() < 0.5 ? 40 : range)));
  const a = emptyAtoms(n);
  const sorted = [...gaps].sort((x, y) => x - y);
  let sum = 0;
  const w = sorted.map(() => r() + 0.01);
  for (const x of w) sum += x;
  for (const [i, g] of sorted.entries()) {
    a.gap[i] = g;
    a.prob[i] = ((1 - tail) * w[i]!) / sum;
  }
  a.size = n;
  a.tail = tail;
  return a;
}

test("MixtureWindow equals the materialised mixtures + chooseWindowInto, to the bit", () => {
  const r = rng(7);
  const range = 10_080;
  const options = { ...IDLE_DISTRIBUTION_DEFAULTS, range };
  // The learner's histograms live in slabs (one id per histogram); IdleDistributions get the same gaps.
  const owns = new HistogramSlab(options, 4);
  const conds = new HistogramSlab({ ...options, changeRun: 0 }, 4);
  for (let trial = 0; trial < 400; trial++) {
    const next = gapSource(r, range);
    const own = new IdleDistribution(options);
    const ownId = owns.create();
    const ownGaps = Math.floor(r() * 40);
    for (let i = 0; i < ownGaps; i++) {
      const g = next();
      own.add(g);
      owns.add(ownId, g);
    }
    const cond = r() < 0.7 ? new IdleDistribution({ ...options, changeRun: 0 }) : undefined;
    const condId = conds.create();
    if (cond)
      for (let i = 1 + Math.floor(r() * 10); i > 0; i--) {
        const g = next();
        cond.add(g);
        conds.add(condId, g);
      }
    const pooled = r() < 0.9 ? randomAtoms(r, 1 + Math.floor(r() * 120), range, r() * 0.2) : undefined;
    const ratio = r() < 0.6 ? randomAtoms(r, 1 + Math.floor(r() * 40), range, r() * 0.1) : undefined;
    const m = new MixtureWindow();
    m.own = owns;
    m.ownId = ownId;
    m.pooled = pooled;
    m.ratio = ratio;
    m.ratioShare = 0.5;
    m.priorWeight = [1, 8, 0][trial % 3]!;
    m.negligible = r() < 0.5 ? 1e-3 : 0.05;
    m.cond = cond ? conds : undefined;
    m.condId = condId;
    m.condWeight = [2, 0.5, 0][trial % 3]!;
    const params: WindowParams = {
      coldPenalty: 1,
      price: 10 ** (-4 + 3 * r()),
      maxEnd: r() < 0.2 ? 100 : Number.POSITIVE_INFINITY,
    };
    // The learner's steps, materialised.
    let prior = pooled;
    if (pooled && ratio) prior = mixAtoms(ratio, 0.5, pooled, 0.5, emptyAtoms());
    let d = own.mixInto(emptyAtoms(), prior, m.priorWeight, m.negligible);
    if (cond) d = cond.shrinkTowards(emptyAtoms(), d, m.condWeight);
    const want = chooseWindowInto(d, 0, params, emptyChoice());
    const got = m.chooseInto(params, emptyChoice());
    assert.deepEqual(got, want, `trial ${trial}`);
  }
});

/** The Kaplan–Meier compaction as first written: every minute up to the longest gap. */
function denseCompact(
  completed: number[],
  open: Map<number, number>,
  now: number,
  created: number,
  range: number,
  exactUpTo: number,
  ratio: number,
): { gap: number[]; prob: number[]; survival: number } {
  const counts = new Float64Array(range + 1);
  let maxGap = 0;
  let total = 0;
  for (const g of completed) {
    total++;
    if (g > range) continue;
    counts[g]! += 1;
    maxGap = Math.max(maxGap, g);
  }
  const horizon = Math.min(range, Math.max(maxGap, now - created));
  const top = Math.min(horizon, maxGap);
  const openAtLeast = new Float64Array(top + 2);
  for (const [last, n] of open) openAtLeast[Math.min(top + 1, Math.max(0, now - last))]! += n;
  for (let g = top; g >= 0; g--) openAtLeast[g]! += openAtLeast[g + 1]!;
  let completedAtLeast = total;
  let survival = 1;
  const gap: number[] = [];
  const prob: number[] = [];
  let lo = 1;
  while (lo <= top) {
    const hi = lo <= exactUpTo ? lo : Math.min(top, Math.floor(lo * ratio));
    let mass = 0;
    let moment = 0;
    for (let g = lo; g <= hi; g++) {
      const atRisk = completedAtLeast + openAtLeast[g]!;
      const d = counts[g]!;
      completedAtLeast -= d;
      if (d === 0 || atRisk <= 0) continue;
      const p = (survival * d) / atRisk;
      survival -= p;
      mass += p;
      moment += g * p;
    }
    if (mass > 0) {
      gap.push(Math.round(moment / mass));
      prob.push(mass);
    }
    lo = hi + 1;
  }
  return { gap, prob, survival: Math.max(0, survival) };
}

test("GapPool's sparse Kaplan–Meier equals the dense one (every minute), to the bit", () => {
  const r = rng(11);
  for (let trial = 0; trial < 150; trial++) {
    const range = [500, 10_080][trial % 2]!;
    const exactUpTo = [32, range][Math.floor(trial / 2) % 2]!;
    const pool = new GapPool(range, 0);
    const next = gapSource(r, range);
    const completed: number[] = [];
    const open = new Map<number, number>();
    let now = 0;
    const waiting: number[] = [];
    let built: GapAtoms | undefined;
    for (let step = 0; step < 300; step++) {
      now += Math.floor(r() * 30);
      if (waiting.length > 0 && r() < 0.5) {
        const i = Math.floor(r() * waiting.length);
        const last = waiting[i]!;
        waiting.splice(i, 1);
        const gap = r() < 0.5 ? next() : Math.max(1, now - last);
        pool.complete(last, gap);
        completed.push(gap);
        const n = open.get(last)!;
        if (n <= 1) open.delete(last);
        else open.set(last, n - 1);
      } else {
        pool.enter(now);
        waiting.push(now);
        open.set(now, (open.get(now) ?? 0) + 1);
      }
      if (step % 25 !== 24) continue;
      // Slack 0 and time doubling since the last build force a rebuild.
      const at = now + 10_000 * 2 ** ((step + 1) / 25);
      const got = pool.compact(at, exactUpTo, 1.1);
      assert.notEqual(got, built, "rebuilt");
      built = got;
      const want = denseCompact(completed, open, at, 0, range, exactUpTo, 1.1);
      const n = want.gap.length;
      assert.deepEqual([...got.gap.subarray(0, n)], want.gap, `trial ${trial} step ${step}`);
      assert.deepEqual([...got.prob.subarray(0, n)], want.prob, `trial ${trial} step ${step}`);
      // What is left after the Kaplan–Meier atoms is spread beyond the horizon (or is the tail).
      let rest = got.tail;
      for (let i = n; i < got.size; i++) rest += got.prob[i]!;
      assert.ok(Math.abs(rest - want.survival) < 1e-9);
    }
  }
});

test("OpenGaps keeps the same counts as a Map, in any order", () => {
  const r = rng(5);
  const gaps = new OpenGaps();
  const ref = new Map<number, number>();
  for (let step = 0; step < 20_000; step++) {
    const m = Math.floor(r() < 0.8 ? step / 10 : r() * (step / 10 + 1));
    if (r() < 0.55) {
      gaps.enter(m);
      ref.set(m, (ref.get(m) ?? 0) + 1);
    } else {
      const n = ref.get(m);
      assert.equal(gaps.leave(m), n !== undefined);
      if (n === 1) ref.delete(m);
      else if (n !== undefined) ref.set(m, n - 1);
    }
  }
  const got = new Map<number, number>();
  for (let i = 0; i < gaps.minute.length; i++)
    if (gaps.count[i]! > 0) got.set(gaps.minute[i]!, gaps.count[i]!);
  assert.deepEqual(
    [...got].sort((a, b) => a[0] - b[0]),
    [...ref].sort((a, b) => a[0] - b[0]),
  );
  assert.equal(
    gaps.total,
    [...ref.values()].reduce((s, v) => s + v, 0),
  );
  for (let i = 1; i < gaps.minute.length; i++) assert.ok(gaps.minute[i - 1]! < gaps.minute[i]!);
});

test("RatioPrior.prior (kept per stage until a rebuild) equals priorInto, across rebuilds", () => {
  const r = rng(11);
  const ratios = new RatioPrior(10_080);
  const asList = (a: GapAtoms | undefined) =>
    a && { tail: a.tail, gap: [...a.gap.subarray(0, a.size)], prob: [...a.prob.subarray(0, a.size)] };
  const previousGaps = [1, 2, 3, 5, 30, 60, 1440, 9000, 20_000];
  let answered = 0;
  for (let step = 0; step < 20_000; step++) {
    const seen = 1 + Math.floor(r() * 12);
    const previous = previousGaps[Math.floor(r() * previousGaps.length)]!;
    if (r() < 0.5) ratios.add(seen, previous, r() < 0.6 ? previous : 1 + Math.floor(r() * 3000));
    const got = asList(ratios.prior(seen, previous));
    assert.deepEqual(got, asList(ratios.priorInto(seen, previous, emptyAtoms(1))), `step ${step}`);
    if (got) answered++;
  }
  assert.ok(answered > 15_000);
});

test("spreadUnknown with a daily share equals log-uniform atoms merged with the day's by mixAtoms, to the bit; a young pool's mass up to half a day is untouched", () => {
  const r = rng(404);
  for (let trial = 0; trial < 300; trial++) {
    const after = Math.floor(r() * 1438);
    const range = 1447 + Math.floor(r() * 20_000);
    const mass = 0.05 + r() * 0.9;
    const daily = r();
    // Where the share is taken from: the default (half a day), the whole tail (0), or elsewhere.
    const from = [720, 0, Math.floor(r() * 1400)][trial % 3]!;
    // Atoms already there, all at or below `after` (a pool's completed gaps).
    const a = randomAtoms(r, 1 + Math.floor(r() * Math.min(after + 1, 30)), after + 1, 1 - mass);
    for (let i = 0; i < a.size; i++) a.gap[i] = Math.min(a.gap[i]!, Math.max(1, after));
    const expected = emptyAtoms(a.size);
    expected.gap.set(a.gap.subarray(0, a.size));
    expected.prob.set(a.prob.subarray(0, a.size));
    expected.size = a.size;
    // The reference: the log-uniform part alone (share 0), then the day's ten atoms merged in. From
    // `from` on the whole tail gives the day its share; before, only its part beyond `from`.
    const flat = emptyAtoms(64);
    let dayMass = mass * daily;
    if (after >= from) spreadUnknown(flat, after, range, mass * (1 - daily), 0);
    else {
      spreadUnknown(flat, after, range, mass, 0);
      let beyond = 0;
      for (let i = 0; i < flat.size; i++) {
        if (flat.gap[i]! <= from) continue;
        beyond += flat.prob[i]!;
        flat.prob[i] = flat.prob[i]! * (1 - daily);
      }
      dayMass = beyond * daily;
    }
    const bump = emptyAtoms(10);
    for (let g = 1438; g <= 1447; g++) {
      bump.gap[bump.size] = g;
      bump.prob[bump.size++] = dayMass / 10;
    }
    flat.tail = 0;
    bump.tail = 0;
    const both = mixAtoms(flat, 1, bump, 1, emptyAtoms());
    const tail = a.tail - mass < 1e-12 ? 0 : a.tail - mass;
    spreadUnknown(a, after, range, mass, daily, from);
    assert.equal(a.size, expected.size + both.size, `trial ${trial}`);
    for (let i = 0; i < both.size; i++) {
      assert.equal(a.gap[expected.size + i], both.gap[i], `trial ${trial} atom ${i}`);
      assert.equal(a.prob[expected.size + i], both.prob[i], `trial ${trial} atom ${i}`);
    }
    assert.equal(a.tail, tail);
    // Stated directly: up to `from` a young pool's spread is what it is without a daily share.
    if (after < from) {
      const plain = emptyAtoms(64);
      spreadUnknown(plain, after, range, mass, 0);
      const upTo = (x: typeof plain, first: number) => {
        let m = 0;
        for (let i = first; i < x.size; i++) if (x.gap[i]! <= from) m += x.prob[i]!;
        return m;
      };
      assert.ok(Math.abs(upTo(a, expected.size) - upTo(plain, 0)) < 1e-12, `trial ${trial}`);
    }
  }
});

test("PooledGaps.priorMassIn equals the mass of priorOf's atoms (blends with user and trigger pools)", () => {
  const r = rng(77);
  const pool = new PooledGaps(10_080, [0, 1, 2, 4, 8], 5, 32, 1.1, 5, 4, 0.2, true);
  const next = gapSource(r, 10_080);
  const apps = 60;
  const last = new Float64Array(apps);
  const seen = new Float64Array(apps);
  const tickets = Array.from({ length: apps }, () => newPoolTicket());
  let now = 0;
  for (let a = 0; a < apps; a++) pool.enter(0, Number.NaN, 0, a % 7, a % 3, tickets[a]);
  for (let step = 0; step < 3000; step++) {
    const a = Math.floor(r() * apps);
    const gap = next();
    now = Math.max(now, last[a]! + gap);
    pool.completeIn(tickets[a]!, last[a]!, now - last[a]!);
    last[a] = now;
    seen[a]!++;
    pool.enter(seen[a]!, 1 + r() * 500, now, a % 7, a % 3, tickets[a]);
    if (step % 50 !== 0) continue;
    const t = tickets[Math.floor(r() * apps)]!;
    const lo = 1 + Math.floor(r() * 2000);
    const hi = lo + Math.floor(r() * 12_000);
    const direct = pool.priorMassIn(now, t, lo, hi);
    const viaAtoms = atomMassIn(pool.priorOf(now, t), lo, hi, 10_080);
    assert.ok(Math.abs(direct - viaAtoms) <= 1e-12, `step ${step}: ${direct} against ${viaAtoms}`);
  }
});

test("dailyAdapt learns the share of long gaps that were a day long, only from gaps ending a day after the first wait", () => {
  const learnt = (longGaps: (k: number) => number) => {
    const pool = new PooledGaps(10_080, [0, 1, 2, 4, 8], 30, 32, 1.1, 3, 4, 0, true);
    for (let k = 0; k < 400; k++) {
      pool.enter(0, Number.NaN, k, -1, -1);
      pool.complete(0, Number.NaN, k, longGaps(k));
    }
    return pool.dailyShare;
  };
  // A quarter of the long gaps are a day (1440), the rest 1500 minutes.
  assert.ok(Math.abs(learnt((k) => (k % 4 === 0 ? 1440 : 1500)) - 0.25) < 0.02);
  // Long gaps that ended within a day of the first wait (800 minutes, waits begun at 0–199) could not
  // have been a day long: they do not count, and the day-long ones that followed make the share 1.
  assert.equal(
    learnt((k) => (k < 200 ? 800 : 1440)),
    1,
  );
  // Without dailyAdapt the share stays as given.
  const fixed = new PooledGaps(10_080, [0, 1, 2, 4, 8], 30, 32, 1.1, 3, 4, 0.3, false);
  for (let k = 0; k < 100; k++) {
    fixed.enter(0, Number.NaN, k, -1, -1);
    fixed.complete(0, Number.NaN, k, 1440);
  }
  assert.equal(fixed.dailyShare, 0.3);
});

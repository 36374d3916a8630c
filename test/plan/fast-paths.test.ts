/**
 * The speed structures of issue 7 against straightforward computations of the same thing, on random
 * inputs: equal to the last bit, since replay results must not move (README's figures).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GapPool, mixAtoms } from "../../src/plan/gap-pool.js";
import { HistogramSlab } from "../../src/plan/histogram-slab.js";
import { emptyAtoms, type GapAtoms, IDLE_DISTRIBUTION_DEFAULTS } from "../../src/plan/idle-distribution.js";
import { MixtureWindow } from "../../src/plan/mixture-window.js";
import { OpenGaps } from "../../src/plan/open-gaps.js";
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

/**
 * The forewarm learner's window in one pass (issue 7: ≥ 1M decisions/s). The learner's distribution is
 * a chain of mixtures — (ratio prior ⊕ pooled prior) → with the app's own histogram → shrunk by the
 * histogram conditioned on the previous gap — and the window is chooseWindowInto over the result.
 * Materialising each mixture costs three merges and three writes of ~150 atoms per decision; this walks
 * the sources once with four cursors and feeds each merged atom straight into the window scan.
 * (The ratio prior is a source, not a cached mix: (previous gap, prior) pairs repeat too rarely.)
 *
 * Exact: every probability is computed with the same floating-point operations, in the same order, as
 * the reference IdleDistribution.mixInto / shrinkTowards (test/plan/idle-distribution-reference.ts), mixAtoms and chooseWindowInto (idleSoFar = 0) would, so
 * windows are identical to the digit (test/plan/fast-paths.test.ts checks it on random sources).
 */
import type { HistogramSlab } from "./histogram-slab.js";
import type { GapAtoms } from "./idle-distribution.js";
import type { WindowChoice, WindowParams } from "./window-policy.js";

/** The sources of one decision's distribution; fields are set by the learner, then `chooseInto`. */
export class MixtureWindow {
  /** The app's own histogram: histogram `ownId` of `own`. */
  own!: HistogramSlab;
  ownId = 0;
  /** The pooled prior (undefined: none, or its share is negligible). */
  pooled: GapAtoms | undefined;
  /** The ratio prior, mixed with `pooled` as ratio·ratioShare + pooled·(1 − ratioShare); or none. */
  ratio: GapAtoms | undefined;
  ratioShare = 0;
  priorWeight = 0;
  negligible = 1e-3;
  /** The histogram conditioned on the previous gap (`condId` of `cond`), shrunk towards the rest by `condWeight`; or none. */
  cond: HistogramSlab | undefined;
  condId = 0;
  condWeight = 0;

  /** chooseWindowInto(the mixture, 0, params, out), without building the mixture. */
  chooseInto(params: WindowParams, out: WindowChoice): WindowChoice {
    const own = this.own;
    const id = this.ownId;
    const aGap = own.gap;
    const aW = own.weight;
    // Cursors run over pool indices: own bins are aGap[i], i < nA (likewise the conditioned c < nC).
    const aFrom = own.start[id]!;
    const nA = aFrom + own.len[id]!;
    // Own ⊕ prior (IdleDistribution.mixInto): `alone` = the prior is dropped (toAtoms: weight / total).
    const pooled = this.pooled;
    const ownSamples = own.effectiveSamples(id);
    const w = pooled && this.priorWeight > 0 ? this.priorWeight : 0;
    const alone = w === 0 || w / (ownSamples + w) < this.negligible;
    const total = own.totalWeight(id);
    const denom = ownSamples + w;
    const s1 = ownSamples > 0 ? 1 / (own.scale[id]! * denom) : 0;
    const s2 = w / denom;
    // The prior's two parts (mixAtoms(ratio, rs, pooled, 1 − rs)).
    const p = alone ? undefined : pooled;
    const nP = p ? p.size : 0;
    const r = p ? this.ratio : undefined;
    const nR = r ? r.size : 0;
    const wa = this.ratioShare;
    const wb = 1 - this.ratioShare;
    // Conditioned (shrinkTowards = mixInto with negligible 0).
    const cd = this.cond;
    const cid = this.condId;
    const cFrom = cd ? cd.start[cid]! : 0;
    const nC = cd ? cFrom + cd.len[cid]! : 0;
    const cGap = cd ? cd.gap : aGap;
    const cW = cd ? cd.weight : aW;
    const condSamples = cd ? cd.effectiveSamples(cid) : 0;
    const cw = cd && this.condWeight > 0 ? this.condWeight : 0;
    const condAlone = cw === 0;
    const condTotal = cd ? cd.totalWeight(cid) : 0;
    const denom2 = condSamples + cw;
    const s3 = condSamples > 0 && cd ? 1 / (cd.scale[cid]! * denom2) : 0;
    const s4 = cw / denom2;

    // chooseWindowInto's scan, idleSoFar = 0 (survival 1, norm 1).
    const C = params.coldPenalty;
    const price = params.price;
    const maxEnd = params.maxEnd;
    let bestCost = C;
    let outPw = 0;
    let outKa = 0;
    let outQ = 0;
    let outIdle = 0;
    let found = false;
    let Q = 0;
    let M = 0;
    let bestA = 0;
    let bestPw = 0;
    let bestPwF = 0;
    let bestPwIdle = 0;
    const INF = Number.POSITIVE_INFINITY;
    let i = aFrom;
    let j = 0;
    let k = 0;
    let c = cFrom;
    // The next gap of each source (∞ once exhausted), advanced with its cursor.
    let gr = nR > 0 ? r!.gap[0]! : INF;
    let gp = nP > 0 ? p!.gap[0]! : INF;
    let ga = i < nA ? aGap[i]! : INF;
    let gc = c < nC ? cGap[c]! : INF;
    for (;;) {
      const gPrior = Math.min(gr, gp);
      let g: number;
      let prob: number;
      if (gPrior < ga && gPrior < gc) {
        // Most atoms are the prior's alone (own and conditioned histograms have few bins).
        g = gPrior;
        let pv: number;
        if (gr === gp) {
          pv = r!.prob[j++]! * wa + p!.prob[k++]! * wb;
          gr = j < nR ? r!.gap[j]! : INF;
          gp = k < nP ? p!.gap[k]! : INF;
        } else if (gr < gp) {
          pv = r!.prob[j++]! * wa;
          gr = j < nR ? r!.gap[j]! : INF;
        } else {
          pv = r ? p!.prob[k++]! * wb : p!.prob[k++]!;
          gp = k < nP ? p!.gap[k]! : INF;
        }
        const dv = pv * s2;
        if (!cd) prob = dv;
        else if (condAlone) continue;
        else prob = dv * s4;
      } else {
        const gd = Math.min(ga, gPrior);
        g = Math.min(gc, gd);
        if (g === INF) break;
        let dv = 0;
        if (gd === g) {
          let pv = 0;
          const priorHere = gPrior === g;
          if (priorHere) {
            if (gr === g && gp === g) {
              pv = r!.prob[j++]! * wa + p!.prob[k++]! * wb;
              gr = j < nR ? r!.gap[j]! : INF;
              gp = k < nP ? p!.gap[k]! : INF;
            } else if (gr === g) {
              pv = r!.prob[j++]! * wa;
              gr = j < nR ? r!.gap[j]! : INF;
            } else {
              pv = r ? p!.prob[k++]! * wb : p!.prob[k++]!;
              gp = k < nP ? p!.gap[k]! : INF;
            }
          }
          if (ga === g) {
            const aw = aW[i++]!;
            ga = i < nA ? aGap[i]! : INF;
            if (alone) dv = aw / total;
            else dv = priorHere ? aw * s1 + pv * s2 : aw * s1;
          } else dv = pv * s2;
        }
        if (!cd) prob = dv;
        else if (condAlone) {
          // No weight behind the base: the conditioned histogram alone (toAtoms).
          if (gc !== g) continue;
          prob = cW[c++]! / condTotal;
          gc = c < nC ? cGap[c]! : INF;
        } else if (gc === g) {
          prob = gd === g ? cW[c++]! * s3 + dv * s4 : cW[c++]! * s3;
          gc = c < nC ? cGap[c]! : INF;
        } else prob = dv * s4;
      }

      const h = g;
      if (h < 1) continue;
      if (h > maxEnd) break;
      const q = prob; // × norm = 1
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
      if (cost < bestCost - 1e-12) {
        bestCost = cost;
        outPw = bestPw;
        outKa = h - bestPw;
        outQ = Q - bestPwF;
        outIdle = idleE - bestPwIdle;
        found = true;
      }
      // No later end can do better (chooseWindowInto's exact stop).
      if (cost - C * (1 - Q) >= bestCost && C * Q >= bestCost) break;
    }
    // Written once (the fields of `out` are boxed doubles).
    out.expectedCost = bestCost;
    out.pw = outPw;
    out.ka = outKa;
    out.pMiss = found ? 1 - outQ : 1;
    out.expectedIdle = outIdle;
    out.reason = "";
    if (out.pMiss < 0) out.pMiss = 0;
    return out;
  }
}

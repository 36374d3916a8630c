/**
 * The straightforward reconcile (every desired shadow scans the whole pool), kept beside the tests as
 * the reference the indexed one in src/plan/reconcile.ts is held to.
 */
import { compareText } from "../../src/core/sorted.js";
import { type ReconcileActions, releasesOf, resizableFor } from "../../src/plan/reconcile.js";
import type { Plan } from "../../src/plan/shadow-planner.js";
import type { EnvironmentView, PoolSnapshot } from "../../src/pool/environment.js";

const rankState = (e: EnvironmentView): number => (e.state === "ready" ? 0 : e.state === "warming" ? 1 : 2);

/** reconcile's matching written plainly: each desired shadow scans the whole pool. */
export function reconcileReference(plan: Plan, pool: PoolSnapshot): ReconcileActions {
  const actions: ReconcileActions = { hold: [], resize: [], create: [], release: [] };
  const taken = new Set<string>();
  const desired = [...plan.desired].sort((a, b) => compareText(a.series, b.series) || a.rank - b.rank);
  for (const d of desired) {
    let best: EnvironmentView | null = null;
    for (const e of pool.environments) {
      if (taken.has(e.id) || e.user !== d.user || e.specKey !== d.specKey) continue;
      if (e.state !== "ready" && e.state !== "warming" && e.state !== "creating") continue;
      if (
        best === null ||
        Number(best.hold?.series !== d.series) - Number(e.hold?.series !== d.series) > 0 ||
        ((best.hold?.series === d.series) === (e.hold?.series === d.series) && rankState(e) < rankState(best))
      ) {
        best = e;
      }
    }
    if (best) {
      taken.add(best.id);
      actions.hold.push({ environmentId: best.id, desired: d });
      continue;
    }
    // Resizing is not what the index changed: the same rule, over the whole pool.
    const other = pool.environments.find((e) => e.user === d.user && resizableFor(e, d, taken));
    if (other) {
      taken.add(other.id);
      actions.resize.push({ environmentId: other.id, desired: d });
    } else {
      actions.create.push(d);
    }
  }
  actions.release = releasesOf(plan, pool, taken);
  return actions;
}

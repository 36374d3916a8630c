import type { EnvironmentView, PoolSnapshot } from "../pool/environment.js";
import type { DesiredShadow, Plan } from "./shadow-planner.js";

export interface ReconcileActions {
  /** Existing environments that now serve a desired shadow (kept past keep-alive until `until`). */
  hold: { environmentId: string; desired: DesiredShadow }[];
  /** Held environments of the right code but another size: resize them (forecasts changed). */
  resize: { environmentId: string; desired: DesiredShadow }[];
  /** Desired shadows with no environment yet: create and warm one. */
  create: DesiredShadow[];
  /** Held environments the plan no longer wants, with the reason. */
  release: { environmentId: string; shadow: boolean; reason: string }[];
}

const rankState = (e: EnvironmentView): number => (e.state === "ready" ? 0 : e.state === "warming" ? 1 : 2);

/**
 * Pure: matches the plan's desired shadows to the pool. An idle, warming or starting environment of
 * the same user and spec satisfies a desired shadow (preferring the one already held for that series,
 * then the readiest); the rest are created. Held environments nobody wants any more are released with
 * the reason the plan gives for their series. Busy environments are never matched or released.
 */
export function reconcile(plan: Plan, pool: PoolSnapshot): ReconcileActions {
  const actions: ReconcileActions = { hold: [], resize: [], create: [], release: [] };
  const taken = new Set<string>();
  const desired = [...plan.desired].sort((a, b) => a.series.localeCompare(b.series) || a.rank - b.rank);
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
    // An idle environment of the same user and code but another size is resized rather than replaced.
    const other = pool.environments.find(
      (e) =>
        !taken.has(e.id) &&
        e.state === "ready" &&
        e.user === d.user &&
        e.spec.runtime === d.spec.runtime &&
        e.spec.dependencies.join(",") === d.spec.dependencies.join(",") &&
        e.specKey !== d.specKey,
    );
    if (other) {
      taken.add(other.id);
      actions.resize.push({ environmentId: other.id, desired: d });
    } else {
      actions.create.push(d);
    }
  }
  const skippedWhy = new Map(plan.skipped.map((s) => [s.series, s.reason]));
  for (const e of pool.environments) {
    if (e.hold === null || taken.has(e.id) || e.state === "busy" || e.state === "gone") continue;
    let reason: string;
    if (plan.now > e.hold.until) reason = "prediction window passed";
    else reason = skippedWhy.get(e.hold.series) ?? "no longer wanted by the plan";
    actions.release.push({ environmentId: e.id, shadow: e.shadow, reason });
  }
  return actions;
}

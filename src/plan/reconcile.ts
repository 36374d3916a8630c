import type { EnvironmentView, PlanHold, PoolSnapshot } from "../pool/environment.js";
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
 * then the readiest); the rest are created. Held environments are released once their window (plus
 * grace) has passed, or earlier when the plan needs their capacity for series of higher benefit — or,
 * for an exact plan (the forewarm windows), as soon as no desired shadow takes them. Busy environments
 * are never matched or released.
 */
export function reconcile(plan: Plan, pool: PoolSnapshot): ReconcileActions {
  const actions: ReconcileActions = { hold: [], resize: [], create: [], release: [] };
  const taken = new Set<string>();
  const desired = [...plan.desired].sort((a, b) => a.series.localeCompare(b.series) || a.rank - b.rank);
  // Each desired shadow looks only at its user's environments (in pool order), not the whole pool's:
  // the cost is shadows × environments of the same user.
  const byUser = new Map<string, EnvironmentView[]>();
  for (const e of pool.environments) {
    const list = byUser.get(e.user);
    if (list) list.push(e);
    else byUser.set(e.user, [e]);
  }
  for (const d of desired) {
    const mine = byUser.get(d.user) ?? [];
    let best: EnvironmentView | null = null;
    for (const e of mine) {
      if (taken.has(e.id) || e.specKey !== d.specKey) continue;
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
    const other = mine.find(
      (e) =>
        !taken.has(e.id) &&
        e.state === "ready" &&
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
    const why = skippedWhy.get(e.hold.series);
    // A hold lasts until the end of the window it was made for (plus grace) while the arrival it waits
    // for has not come: a later forecast that no longer sees a late arrival does not cut it short. Once
    // the environment has served a task since, or the plan needs the capacity, it goes.
    const served = e.idleSince !== null && e.idleSince > e.hold.since;
    if (plan.now <= e.hold.until && !served && !plan.exact && !why?.startsWith("capacity")) continue;
    const reason =
      plan.now > e.hold.until
        ? "prediction window passed"
        : (why ?? (plan.exact ? "beyond the environments the window holds" : "no longer wanted by the plan"));
    actions.release.push({ environmentId: e.id, shadow: e.shadow, reason });
  }
  return actions;
}

/** The hold an environment carries for a desired shadow, as of `now`. */
export function holdFor(d: DesiredShadow, now: number): PlanHold {
  return { series: d.series, since: now, until: d.until, benefit: d.benefit, reason: d.reason };
}

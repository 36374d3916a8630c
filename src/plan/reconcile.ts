import { compareText } from "../core/sorted.js";
import {
  type EnvironmentView,
  growableInPlace,
  type PlanHold,
  type PoolSnapshot,
} from "../pool/environment.js";
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

/** Environments by readiness (ready, warming, creating), each list in pool order, taken ones skipped. */
class Ranked {
  private readonly lists: EnvironmentView[][] = [[], [], []];
  private readonly heads = [0, 0, 0];

  add(e: EnvironmentView): void {
    this.lists[rankState(e)]!.push(e);
  }

  /** The readiest, earliest environment not taken (taken ones never come back: skip them for good). */
  first(taken: ReadonlySet<string>): EnvironmentView | null {
    for (let r = 0; r < 3; r++) {
      const list = this.lists[r]!;
      let h = this.heads[r]!;
      while (h < list.length && taken.has(list[h]!.id)) h++;
      this.heads[r] = h;
      if (h < list.length) return list[h]!;
    }
    return null;
  }
}

interface Candidates {
  all: Ranked;
  held: Map<string, Ranked>;
}

/**
 * Pure: matches the plan's desired shadows to the pool. An idle, warming or starting environment of
 * the same user and spec satisfies a desired shadow (preferring the one already held for that series,
 * then the readiest); the rest are created. Held environments are released once their window (plus
 * grace) has passed, or earlier when the plan needs their capacity for series of higher benefit — or,
 * for an exact plan (the forewarm windows), as soon as no desired shadow takes them. Busy environments
 * are never matched or released.
 */
export function reconcile(
  plan: Plan,
  pool: PoolSnapshot,
  /** Environments the backend could not resize in place: a shadow of another size is created instead. */
  cannotResize: ReadonlySet<string> = NONE,
): ReconcileActions {
  const actions: ReconcileActions = { hold: [], resize: [], create: [], release: [] };
  const taken = new Set<string>();
  const desired = [...plan.desired].sort((a, b) => compareText(a.series, b.series) || a.rank - b.rank);
  // Per (user, spec), the environments a desired shadow may take, by readiness in pool order, and the
  // same per series holding them: each shadow takes the first one not taken (the held one first), so
  // a plan costs its shadows plus the pool, not shadows × environments.
  const groups = new Map<string, Map<string, Candidates>>();
  for (const e of pool.environments) {
    if (e.state !== "ready" && e.state !== "warming" && e.state !== "creating") continue;
    let specs = groups.get(e.user);
    if (!specs) {
      specs = new Map();
      groups.set(e.user, specs);
    }
    let g = specs.get(e.specKey);
    if (!g) {
      g = { all: new Ranked(), held: new Map() };
      specs.set(e.specKey, g);
    }
    g.all.add(e);
    if (e.hold) {
      let h = g.held.get(e.hold.series);
      if (!h) {
        h = new Ranked();
        g.held.set(e.hold.series, h);
      }
      h.add(e);
    }
  }
  // Each user's environments, for resizing: built on the first shadow no same-spec environment takes
  // (a plan cycle whose shadows all match builds none).
  let byUser: Map<string, EnvironmentView[]> | undefined;
  for (const d of desired) {
    const g = groups.get(d.user)?.get(d.specKey);
    const best = g ? (g.held.get(d.series)?.first(taken) ?? g.all.first(taken)) : null;
    if (best) {
      taken.add(best.id);
      actions.hold.push({ environmentId: best.id, desired: d });
      continue;
    }
    byUser ??= environmentsByUser(pool);
    const other = byUser.get(d.user)?.find((e) => !cannotResize.has(e.id) && resizableFor(e, d, taken));
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

const NONE: ReadonlySet<string> = new Set();

function environmentsByUser(pool: PoolSnapshot): Map<string, EnvironmentView[]> {
  const byUser = new Map<string, EnvironmentView[]>();
  for (const e of pool.environments) {
    const list = byUser.get(e.user);
    if (list) list.push(e);
    else byUser.set(e.user, [e]);
  }
  return byUser;
}

/**
 * An idle environment (of the shadow's user) with the same code but another size, that its backend
 * can give that size in place: it is resized rather than replaced.
 */
export function resizableFor(e: EnvironmentView, d: DesiredShadow, taken: ReadonlySet<string>): boolean {
  return (
    !taken.has(e.id) &&
    e.state === "ready" &&
    growableInPlace(e, d.spec.resources.memoryMb) &&
    e.spec.runtime === d.spec.runtime &&
    e.spec.dependencies.join(",") === d.spec.dependencies.join(",") &&
    e.specKey !== d.specKey
  );
}

/** The held environments no desired shadow took (`taken`) that go now, with the reason. */
export function releasesOf(
  plan: Plan,
  pool: PoolSnapshot,
  taken: ReadonlySet<string>,
): ReconcileActions["release"] {
  const release: ReconcileActions["release"] = [];
  // Built on the first held environment no shadow took (most cycles release few or none).
  let skippedWhy: Map<string, string> | undefined;
  for (const e of pool.environments) {
    if (e.hold === null || taken.has(e.id) || e.state === "busy" || e.state === "gone") continue;
    skippedWhy ??= new Map(plan.skipped.map((s) => [s.series, s.reason]));
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
    release.push({ environmentId: e.id, shadow: e.shadow, reason });
  }
  return release;
}

/** The hold an environment carries for a desired shadow, as of `now`. */
export function holdFor(d: DesiredShadow, now: number): PlanHold {
  return { series: d.series, since: now, until: d.until, benefit: d.benefit, reason: d.reason };
}

import type { EnvironmentSpec, ResourceVector } from "../core/types.js";
import { fitsWithin } from "../core/types.js";
import {
  type EnvironmentView,
  fitsCapacity,
  growableInPlace,
  type PoolSnapshot,
} from "../pool/environment.js";

/** What the router needs to know about an arriving task. */
export interface RouteRequest {
  user: string;
  /** Runtime and dependencies the task needs, and the resources it is estimated to need. */
  spec: EnvironmentSpec;
}

export type RouteDecision =
  | { kind: "warm"; environmentId: string; reason: string }
  | { kind: "resize"; environmentId: string; resources: ResourceVector; evict: string[]; reason: string }
  | { kind: "cold"; evict: string[]; reason: string }
  | { kind: "queue"; reason: string }
  /** Stays queued for an environment the plan is resizing to fit it; holds back no other task. */
  | { kind: "wait"; environmentId: string; reason: string };

const sameCode = (a: EnvironmentSpec, b: EnvironmentSpec): boolean =>
  a.runtime === b.runtime &&
  a.dependencies.length === b.dependencies.length &&
  a.dependencies.every((d, i) => d === b.dependencies[i]);

const size = (r: ResourceVector): number => r.memoryMb * 1e6 + r.cpu * 1e3 + r.storageMb / 1e3;

/**
 * Pure routing decision. Tenants are isolated: only the same user's environments are candidates.
 * 1. Warm: the smallest ready environment of the user with the task's runtime and dependencies that
 *    holds the task's estimated resources (best fit keeps big environments for big tasks); among
 *    equals the most recently idle (the warmest; older ones age out — design.md's M2 rule).
 * 2. Resize: a ready matching environment that is too small is grown, if its backend can grow it in
 *    place and capacity allows the growth. One it cannot grow (a Node runner's heap is fixed at start)
 *    stays as it is, for the user's smaller tasks: the task starts cold instead.
 * 3. Cold: start one if capacity allows, evicting idle environments when that makes room — a real task
 *    always wins over an idle or shadow environment. Eviction order: environments the plan does not
 *    hold (least recently idle first), then held shadows by ascending expected benefit.
 *    Before that, wait: if the plan is resizing one of the user's matching environments to a size
 *    that holds the task (the backend takes milliseconds), the task waits for it rather than start cold.
 * 4. Else queue.
 */
export function routeTask(req: RouteRequest, pool: PoolSnapshot): RouteDecision {
  const need = req.spec.resources;
  let best: EnvironmentView | null = null;
  let smallest: EnvironmentView | null = null;
  let resizing: EnvironmentView | null = null;
  for (const e of pool.environments) {
    if (e.state !== "ready" || e.user !== req.user || !sameCode(e.spec, req.spec)) continue;
    if (e.resizingTo) {
      if (resizing === null && fitsWithin(need, e.resizingTo)) resizing = e;
      continue;
    }
    if (fitsWithin(need, e.spec.resources)) {
      if (
        best === null ||
        size(e.spec.resources) < size(best.spec.resources) ||
        (size(e.spec.resources) === size(best.spec.resources) && (e.idleSince ?? 0) > (best.idleSince ?? 0))
      ) {
        best = e;
      }
    } else if (
      growableInPlace(e, need.memoryMb) &&
      (smallest === null || (e.idleSince ?? 0) > (smallest.idleSince ?? 0))
    ) {
      smallest = e;
    }
  }
  if (best) {
    const why = best.shadow
      ? "shadow environment prepared ahead of the task"
      : "idle environment of the same user";
    return { kind: "warm", environmentId: best.id, reason: why };
  }
  if (resizing) {
    return {
      kind: "wait",
      environmentId: resizing.id,
      reason: "the plan is resizing an idle environment of the user to fit it; waiting for that",
    };
  }
  if (smallest) {
    const to: ResourceVector = {
      cpu: Math.max(need.cpu, smallest.spec.resources.cpu),
      memoryMb: Math.max(need.memoryMb, smallest.spec.resources.memoryMb),
      storageMb: Math.max(need.storageMb, smallest.spec.resources.storageMb),
      networkMbps: Math.max(need.networkMbps, smallest.spec.resources.networkMbps),
    };
    const growth: ResourceVector = {
      cpu: to.cpu - smallest.spec.resources.cpu,
      memoryMb: to.memoryMb - smallest.spec.resources.memoryMb,
      storageMb: 0,
      networkMbps: 0,
    };
    const room = makeRoom(pool, growth, smallest.id);
    if (room !== null) {
      return {
        kind: "resize",
        environmentId: smallest.id,
        resources: to,
        evict: room,
        reason: "idle environment of the user is too small; growing it",
      };
    }
  }
  const evict = makeRoom(pool, need, null);
  if (evict === null) return { kind: "queue", reason: "capacity full and no idle environment to evict" };
  return {
    kind: "cold",
    evict,
    reason: evict.length
      ? `capacity full; evicting ${evict.length} idle environment(s)`
      : "no warm environment fits",
  };
}

/** Idle environments to evict so that `extra` fits (empty: fits already), or null if it cannot. */
function makeRoom(pool: PoolSnapshot, extra: ResourceVector, keep: string | null): string[] | null {
  // When growing an environment it is not a new one: count it as freed then re-added.
  const countAdj = keep === null ? 0 : 1;
  if (fitsCapacity(pool.environments, pool.capacity, extra, undefined, countAdj)) return [];
  const idle = pool.environments
    .filter((e) => e.state === "ready" && e.id !== keep)
    .sort(
      (a, b) =>
        Number(a.hold !== null) - Number(b.hold !== null) ||
        (a.hold?.benefit ?? 0) - (b.hold?.benefit ?? 0) ||
        (a.idleSince ?? 0) - (b.idleSince ?? 0),
    );
  const freed = { cpu: 0, memoryMb: 0, storageMb: 0, networkMbps: 0 };
  const evict: string[] = [];
  for (const e of idle) {
    evict.push(e.id);
    freed.cpu += e.spec.resources.cpu;
    freed.memoryMb += e.spec.resources.memoryMb;
    if (fitsCapacity(pool.environments, pool.capacity, extra, freed, evict.length + countAdj)) return evict;
  }
  return null;
}

/**
 * Idle environments whose keep-alive has run out at `now`: idle since e, an environment is still there
 * for a task arriving at or before e + ka (design.md, model M2) and gone after. Environments the plan
 * holds for a predicted arrival wait for the plan to release them.
 */
export function expiredEnvironments(pool: PoolSnapshot, keepAlive: number): EnvironmentView[] {
  return pool.environments.filter(
    (e) =>
      e.state === "ready" && e.hold === null && e.idleSince !== null && pool.now > e.idleSince + keepAlive,
  );
}

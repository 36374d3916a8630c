import type { EnvironmentSpec } from "../core/types.js";
import { specKey } from "../core/types.js";
import { type EnvironmentView, fitsCapacity, type PoolSnapshot } from "../pool/environment.js";

/** What the router needs to know about an arriving task. */
export interface RouteRequest {
  user: string;
  spec: EnvironmentSpec;
}

export type RouteDecision =
  | { kind: "warm"; environmentId: string; reason: string }
  | { kind: "cold"; evict: string[]; reason: string }
  | { kind: "queue"; reason: string };

/**
 * Pure routing decision. Tenants are isolated: only environments of the same user are candidates.
 * 1. An idle ready environment of the same user and spec (the most recently idle: it is the warmest
 *    and lets older ones age out, as design.md's M2 rule says).
 * 2. Else start one cold if capacity allows, evicting idle environments (least recently used first,
 *    any user) when that makes room: a real task always wins over an idle environment.
 * 3. Else queue.
 */
export function routeTask(req: RouteRequest, pool: PoolSnapshot): RouteDecision {
  const key = specKey(req.spec);
  let best: EnvironmentView | null = null;
  for (const e of pool.environments) {
    if (e.state !== "ready" || e.user !== req.user || e.specKey !== key) continue;
    if (best === null || (e.idleSince ?? 0) > (best.idleSince ?? 0)) best = e;
  }
  if (best)
    return { kind: "warm", environmentId: best.id, reason: "idle environment of the same user and spec" };

  const need = req.spec.resources;
  if (fitsCapacity(pool.environments, pool.capacity, need)) {
    return { kind: "cold", evict: [], reason: "no idle matching environment; capacity available" };
  }
  const idle = pool.environments
    .filter((e) => e.state === "ready")
    .sort((a, b) => (a.idleSince ?? 0) - (b.idleSince ?? 0) || Number(b.shadow) - Number(a.shadow));
  const freed = { cpu: 0, memoryMb: 0, storageMb: 0, networkMbps: 0 };
  const evict: string[] = [];
  for (const e of idle) {
    evict.push(e.id);
    freed.cpu += e.spec.resources.cpu;
    freed.memoryMb += e.spec.resources.memoryMb;
    if (fitsCapacity(pool.environments, pool.capacity, need, freed, evict.length)) {
      return { kind: "cold", evict, reason: `capacity full; evicting ${evict.length} idle environment(s)` };
    }
  }
  return { kind: "queue", reason: "capacity full and no idle environment to evict" };
}

/** Idle environments whose keep-alive has run out at `now` (idle since e is reclaimed at e + ka). */
export function expiredEnvironments(pool: PoolSnapshot, keepAliveMs: number): EnvironmentView[] {
  return pool.environments.filter(
    (e) => e.state === "ready" && e.idleSince !== null && pool.now >= e.idleSince + keepAliveMs,
  );
}

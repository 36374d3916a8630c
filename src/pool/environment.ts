import type { EnvironmentSpec, ResourceVector } from "../core/types.js";

/**
 * Lifecycle: creating → warming → ready ⇄ busy → draining → gone.
 * `ready` means idle and warm; `busy` runs exactly one task.
 */
export type EnvironmentState = "creating" | "warming" | "ready" | "busy" | "draining" | "gone";

export interface EnvironmentView {
  id: string;
  user: string;
  spec: EnvironmentSpec;
  specKey: string;
  state: EnvironmentState;
  /** True when created ahead of demand by the planner rather than for a waiting task. */
  shadow: boolean;
  createdAt: number;
  readyAt: number | null;
  /** When it last became idle (ready); null while creating or busy. */
  idleSince: number | null;
  tasksRun: number;
  /** Measured time from create to ready (start + imports + warm-up), ms. */
  coldStartMs: number | null;
  /** Idle memory·time accumulated so far, MiB·ms (wasted memory-time in design.md terms). */
  idleMbMs: number;
  /** Set while the plan wants this environment kept for a predicted arrival (keep-alive then waits). */
  hold: PlanHold | null;
  /**
   * While the plan resizes this idle environment, the size it is going to: no task is routed to it
   * meanwhile (one that fits that size waits for it, a few milliseconds, rather than starting cold).
   */
  resizingTo?: ResourceVector | null;
  /** The largest memory it can be resized to in place, once started (backend.ts); absent: no ceiling. */
  maxInPlaceMemoryMb?: number | null;
}

/**
 * Whether its backend can give `e` this much memory in place (backend.ts's `maxInPlaceMemoryMb`): a Node
 * runner's heap limit is set when it starts, and without cgroups nothing is resized.
 */
export function growableInPlace(e: EnvironmentView, memoryMb: number): boolean {
  const ceiling = e.maxInPlaceMemoryMb;
  return ceiling === undefined || ceiling === null || memoryMb <= ceiling;
}

export interface PlanHold {
  series: string;
  /** When the plan (last) asked for this environment. */
  since: number;
  until: number;
  benefit: number;
  reason: string;
}

export interface Capacity {
  cpu: number;
  memoryMb: number;
  maxEnvironments: number;
}

export interface PoolSnapshot {
  now: number;
  environments: readonly EnvironmentView[];
  capacity: Capacity;
}

/** Resources held by environments that are not gone. */
export function usedResources(envs: readonly EnvironmentView[]): {
  cpu: number;
  memoryMb: number;
  count: number;
} {
  let cpu = 0;
  let memoryMb = 0;
  let count = 0;
  for (const e of envs) {
    if (e.state === "gone") continue;
    cpu += e.spec.resources.cpu;
    memoryMb += e.spec.resources.memoryMb;
    count += 1;
  }
  return { cpu, memoryMb, count };
}

export function fitsCapacity(
  envs: readonly EnvironmentView[],
  capacity: Capacity,
  extra: ResourceVector,
  freed: ResourceVector = { cpu: 0, memoryMb: 0, storageMb: 0, networkMbps: 0 },
  freedCount = 0,
): boolean {
  const used = usedResources(envs);
  const eps = 1e-9;
  return (
    used.cpu - freed.cpu + extra.cpu <= capacity.cpu + eps &&
    used.memoryMb - freed.memoryMb + extra.memoryMb <= capacity.memoryMb + eps &&
    used.count - freedCount + 1 <= capacity.maxEnvironments
  );
}

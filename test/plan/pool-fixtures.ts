/** Shared fixtures of the planner tests: a spec, environments in a state, a pool snapshot. */
import { type EnvironmentSpec, specKey } from "../../src/core/types.js";
import type { EnvironmentView, PoolSnapshot } from "../../src/pool/environment.js";

export const MIN = 60_000;

export const spec = (memoryMb = 256): EnvironmentSpec => ({
  runtime: "node",
  dependencies: [],
  resources: { cpu: 1, memoryMb, storageMb: 0, networkMbps: 0 },
});

export function env(
  id: string,
  user: string,
  state: EnvironmentView["state"],
  memoryMb = 256,
): EnvironmentView {
  const s = spec(memoryMb);
  return {
    id,
    user,
    spec: s,
    specKey: specKey(s),
    state,
    shadow: false,
    createdAt: 0,
    readyAt: 0,
    idleSince: state === "ready" ? 0 : null,
    tasksRun: 1,
    coldStartMs: 1000,
    idleMbMs: 0,
    hold: null,
  };
}

export const pool = (envs: EnvironmentView[], memoryMb = 4096): PoolSnapshot => ({
  now: 100 * MIN,
  environments: envs,
  capacity: { cpu: 64, memoryMb, maxEnvironments: 64 },
});

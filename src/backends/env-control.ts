/**
 * One environment's process under the backend's control: claimed and released per request, killed
 * with a recorded reason, held to its memory limit by a sampler without cgroups, and measured.
 */
import type { RunFailure } from "./backend.js";
import { ProcSampler, readStatusKb } from "./proc-stats.js";
import { type Env, oomText } from "./process-env.js";

/** Ends a claim on the environment (a dead one stays dead). */
export function releaseEnv(env: Env): void {
  if (env.state === "busy") env.state = "idle";
}

export function killEnv(env: Env, failure: RunFailure, error: string): void {
  env.killReason ??= { failure, error };
  env.runner.kill("SIGKILL");
}

export async function killEnvAndWait(env: Env, failure: RunFailure, error: string): Promise<void> {
  killEnv(env, failure, error);
  await env.outcome;
}

/** Without cgroups, the sampler is the memory limit: it kills a process above its limit. */
export function startSampler(env: Env, sampleIntervalMs: number): ProcSampler | null {
  const pid = env.info.pid;
  if (pid == null) return null;
  const sampler = new ProcSampler(pid, sampleIntervalMs, (rssMb) => {
    const limit = env.info.spec.resources.memoryMb;
    if (env.cgroup === null && rssMb > limit) killEnv(env, "oom", oomText(env.info.spec.resources.memoryMb));
  });
  sampler.start();
  return sampler;
}

export async function peakMb(env: Env, sampler: ProcSampler | null, hwmReset: boolean): Promise<number> {
  if (env.cgroup) {
    const bytes = await env.cgroup.peakBytes();
    if (bytes !== null) return bytes / (1024 * 1024);
  }
  const sampled = sampler?.maxRssMb ?? 0;
  if (!hwmReset || env.info.pid == null) return sampled;
  const hwmKb = await readStatusKb(env.info.pid, "VmHWM");
  return Math.max(sampled, (hwmKb ?? 0) / 1024);
}

/**
 * The two requests a claimed environment serves, warm-up and run: their timeouts, the memory sampler
 * around them, what they measure, and how a process that dies mid-request is reported. Each releases
 * the environment when it is done.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "../log/logger.js";
import type { Invocation, RunResult, WarmupRequest, WarmupResult } from "./backend.js";
import { killEnv, killEnvAndWait, peakMb, releaseEnv, startSampler } from "./env-control.js";
import { readCpuMs, readWriteBytes, resetPeakRss } from "./proc-stats.js";
import { type Env, failedResult, firstLine, oomText } from "./process-env.js";
import { RunnerExitedError } from "./runner-process.js";

export interface RequestTimings {
  warmTimeoutMs: number;
  sampleIntervalMs: number;
}

export async function warmEnv(
  env: Env,
  request: WarmupRequest,
  opts: RequestTimings,
  log: Logger,
): Promise<WarmupResult> {
  const id = env.info.id;
  const sampler = startSampler(env, opts.sampleIntervalMs);
  const timer = setTimeout(
    () => killEnv(env, "timeout", `warm-up timed out after ${opts.warmTimeoutMs} ms`),
    opts.warmTimeoutMs,
  );
  try {
    const deps = env.info.spec.dependencies;
    const imported = await env.runner.request({ op: "import", modules: deps });
    if (!imported.ok) {
      if (imported.kind === "oom")
        await killEnvAndWait(env, "oom", oomText(env.info.spec.resources.memoryMb, imported.error));
      throw new Error(`dependency "${imported.module}" failed to import: ${firstLine(imported.error)}`);
    }
    let warmupMs = 0;
    if (request.modulePath && request.fn === undefined) {
      // Import only: loads the task's code and its imports without running it (no side effects).
      const loaded = await env.runner.request({ op: "load", modulePath: request.modulePath });
      warmupMs = loaded.ms ?? 0;
      if (!loaded.ok) {
        if (loaded.kind === "oom")
          await killEnvAndWait(env, "oom", oomText(env.info.spec.resources.memoryMb, loaded.error));
        throw new Error(`warm-up import of the task module failed: ${firstLine(loaded.error)}`);
      }
    } else if (request.modulePath) {
      const called = await env.runner.request(
        { op: "call", modulePath: request.modulePath, fn: request.fn ?? "fn" },
        JSON.stringify(request.input ?? null),
      );
      warmupMs = called.wallMs ?? 0;
      if (!called.ok) {
        if (called.kind === "oom")
          await killEnvAndWait(env, "oom", oomText(env.info.spec.resources.memoryMb, called.error));
        if (called.kind !== "error") throw new Error(`warm-up module failed: ${firstLine(called.error)}`);
        // The module is loaded, which is what warming is for; the input just did not suit it.
        log.warn({ envId: id, error: firstLine(called.error) }, "warm-up call threw");
      }
    }
    return { startMs: env.startMs, importMs: imported.ms ?? 0, warmupMs };
  } catch (e) {
    if (e instanceof RunnerExitedError || env.killReason) {
      const outcome = await env.outcome;
      throw new Error(`environment ${id} died during warm-up: ${outcome.failure}: ${outcome.error}`);
    }
    throw e;
  } finally {
    clearTimeout(timer);
    sampler?.stop();
    releaseEnv(env);
  }
}

export async function runInEnv(env: Env, inv: Invocation, sampleIntervalMs: number): Promise<RunResult> {
  const pid = env.info.pid ?? -1;
  let inputJson: string;
  try {
    inputJson = JSON.stringify(inv.input ?? null);
  } catch (e) {
    releaseEnv(env);
    return failedResult("error", `input is not JSON-serialisable: ${(e as Error).message}`, 0, 0, 0);
  }
  const inputBytes = Buffer.byteLength(inputJson);
  // A fresh peak per run (the cgroup's, or else the process's own high-water mark), and the
  // baselines of the counters, read together to keep the per-run overhead small.
  const [hwmReset, written0, cpu0] = await Promise.all([
    env.cgroup ? env.cgroup.resetPeak().then(() => false) : resetPeakRss(pid),
    readWriteBytes(pid),
    readCpuMs(pid),
  ]);
  const sampler = startSampler(env, sampleIntervalMs);
  const t0 = performance.now();
  const timer = setTimeout(
    () => killEnv(env, "timeout", `timed out after ${inv.timeoutMs} ms`),
    inv.timeoutMs,
  );
  try {
    const res = await env.runner.request({ op: "call", modulePath: inv.modulePath, fn: inv.fn }, inputJson);
    clearTimeout(timer);
    sampler?.stop();
    // A kill issued just before the answer arrived still decides the outcome.
    if (env.killReason) throw new RunnerExitedError({ code: null, signal: null });
    const wallMs = res.wallMs ?? performance.now() - t0;
    const cpuMs = res.cpuMs ?? 0;
    if (!res.ok && res.kind === "oom") {
      const text = oomText(env.info.spec.resources.memoryMb, res.error);
      await killEnvAndWait(env, "oom", text);
      return failedResult("oom", text, wallMs, cpuMs, inputBytes);
    }
    const [peakMemoryMb, written1] = await Promise.all([peakMb(env, sampler, hwmReset), readWriteBytes(pid)]);
    const storageBytesWritten = written0 !== null && written1 !== null ? Math.max(0, written1 - written0) : 0;
    const base = { wallMs, cpuMs, peakMemoryMb, inputBytes, storageBytesWritten };
    if (res.ok) return { ok: true, output: res.output ?? null, outputBytes: res.outputBytes ?? 0, ...base };
    return { ok: false, failure: "error", error: res.error ?? "unknown error", outputBytes: 0, ...base };
  } catch (e) {
    clearTimeout(timer);
    sampler?.stop();
    if (!(e instanceof RunnerExitedError)) throw e;
    const outcome = await env.outcome;
    const wallMs = performance.now() - t0;
    const cpuMs = sampler?.lastCpuMs != null && cpu0 !== null ? Math.max(0, sampler.lastCpuMs - cpu0) : 0;
    const failure = outcome.failure === "destroyed" ? "crashed" : outcome.failure;
    const result = failedResult(failure, outcome.error, wallMs, cpuMs, inputBytes);
    result.peakMemoryMb = env.finalPeakMb ?? sampler?.maxRssMb ?? 0;
    return result;
  } finally {
    releaseEnv(env);
  }
}

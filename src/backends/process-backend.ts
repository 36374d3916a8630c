/**
 * The embedded default backend: every environment is a real OS process running a small runner
 * for its runtime (runners/), limited by its own cgroup v1 where that is writable and by an RSS
 * sampler where it is not.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { EnvironmentSpec, ResourceVector } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import type {
  BackendEnvironment,
  EnvironmentBackend,
  EnvironmentStats,
  ExitListener,
  Invocation,
  RunFailure,
  RunResult,
  WarmupRequest,
  WarmupResult,
} from "./backend.js";
import { CgroupHost, type EnvCgroup } from "./cgroup.js";
import {
  ProcSampler,
  readCpuMs,
  readRssMb,
  readStatusKb,
  readWriteBytes,
  resetPeakRss,
} from "./proc-stats.js";
import {
  classifyExit,
  type Env,
  type ExitOutcome,
  failedResult,
  firstLine,
  oomText,
  type ProcessBackendOptions,
  safeSegment,
} from "./process-env.js";
import { type RunnerExit, RunnerExitedError } from "./runner-process.js";
import { resolvePythonExecutable, spawnRunner } from "./spawn-runner.js";

export type { ProcessBackendOptions } from "./process-env.js";

const DEFAULT_RUNNERS_DIR = fileURLToPath(new URL("../../../runners/", import.meta.url));

export class ProcessBackend implements EnvironmentBackend {
  readonly name = "process";
  private readonly envs = new Map<string, Env>();
  private readonly listeners: ExitListener[] = [];
  /** Exit handling still in flight (cleanup of cgroups and scratch dirs); awaited by close(). */
  private readonly exiting = new Set<Promise<ExitOutcome>>();
  private readonly cgroups: CgroupHost | null;
  private readonly log: Logger;
  private readonly workDir: string;
  private readonly opts: Required<Omit<ProcessBackendOptions, "logger" | "useCgroups" | "workDir">>;
  private seq = 0;
  private closed = false;
  /** Ids whose create is in flight, and the creates themselves (close() waits for them). */
  private readonly reserved = new Set<string>();
  private readonly creating = new Set<Promise<BackendEnvironment>>();

  constructor(options: ProcessBackendOptions) {
    this.log = options.logger;
    this.workDir = options.workDir ?? join(tmpdir(), "forewarm-envs");
    mkdirSync(this.workDir, { recursive: true });
    this.opts = {
      extraEnv: options.extraEnv ?? {},
      nodeBinary: options.nodeBinary ?? process.execPath,
      pythonBinary: options.pythonBinary ?? "python3",
      runnersDir: options.runnersDir ?? DEFAULT_RUNNERS_DIR,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      warmTimeoutMs: options.warmTimeoutMs ?? 120_000,
      sampleIntervalMs: options.sampleIntervalMs ?? 20,
      killGraceMs: options.killGraceMs ?? 1000,
    };
    const mode = options.useCgroups ?? "auto";
    if (mode === false) {
      this.cgroups = null;
      this.log.info("hard limits disabled by configuration; enforcing memory by RSS sampling");
      return;
    }
    const host = CgroupHost.detect();
    if (typeof host === "string") {
      if (mode === true) throw new Error(`cgroup v1 hard limits required but unavailable: ${host}`);
      this.cgroups = null;
      this.log.warn(`hard limits unavailable: ${host}; enforcing memory by RSS sampling`);
      return;
    }
    this.cgroups = host;
    if (host.cpuUnavailable)
      this.log.warn(`cpu limits unavailable: ${host.cpuUnavailable}; memory is still enforced`);
  }

  /** Whether environments of this backend get cgroup hard limits. */
  get hardLimits(): boolean {
    return this.cgroups !== null;
  }

  async create(id: string, user: string, spec: EnvironmentSpec): Promise<BackendEnvironment> {
    if (this.closed) throw new Error("process backend is closed");
    if (this.envs.has(id) || this.reserved.has(id)) throw new Error(`environment ${id} already exists`);
    this.reserved.add(id);
    const creating = this.createEnv(id, user, spec);
    this.creating.add(creating);
    try {
      return await creating;
    } finally {
      this.creating.delete(creating);
      this.reserved.delete(id);
    }
  }

  private async createEnv(id: string, user: string, spec: EnvironmentSpec): Promise<BackendEnvironment> {
    const pythonBinary =
      spec.runtime === "python3"
        ? await resolvePythonExecutable(this.opts.pythonBinary)
        : this.opts.pythonBinary;
    const segment = `${safeSegment(id)}-${this.seq++}`;
    const scratchDir = join(this.workDir, `${segment}-${randomBytes(3).toString("hex")}`);
    mkdirSync(scratchDir, { recursive: true });
    let cgroup: EnvCgroup | null = null;
    try {
      if (this.cgroups) cgroup = await this.cgroups.createEnv(segment, spec.resources);
      // close() may have run during the awaits above; it waits for this create, so bail out here.
      if (this.closed) throw new Error("process backend is closed");
    } catch (e) {
      await cgroup?.remove();
      await rm(scratchDir, { recursive: true, force: true });
      throw e;
    }
    const t0 = performance.now();
    const runner = spawnRunner({
      runtime: spec.runtime,
      memoryMb: spec.resources.memoryMb,
      cgroupProcs: cgroup?.procsFiles() ?? [],
      cwd: scratchDir,
      env: {
        ...this.opts.extraEnv,
        FOREWARM_ENV_ID: id,
        FOREWARM_SCRATCH_DIR: scratchDir,
        TMPDIR: scratchDir,
      },
      nodeBinary: this.opts.nodeBinary,
      pythonBinary,
      runnersDir: this.opts.runnersDir,
    });
    const env: Env = {
      info: { id, user, spec, pid: runner.pid, hardLimits: cgroup !== null, createdAt: Date.now() },
      runner,
      cgroup,
      scratchDir,
      startMs: 0,
      state: "starting",
      killReason: null,
      outcome: Promise.resolve({ failure: "crashed", error: "" }),
      destroying: null,
      finalPeakMb: null,
    };
    env.outcome = runner.exited.then((exit) => this.handleExit(env, exit));
    this.exiting.add(env.outcome);
    void env.outcome.finally(() => this.exiting.delete(env.outcome));
    this.envs.set(id, env);

    // The sampler enforces the memory limit during start-up too when there is no cgroup.
    const sampler = this.startSampler(env);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        runner.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no ready message within ${this.opts.startTimeoutMs} ms`)),
            this.opts.startTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      this.kill(env, "crashed", "start-up failed");
      const outcome = await env.outcome;
      const why = e instanceof RunnerExitedError ? outcome.error : (e as Error).message;
      throw new Error(`failed to start ${spec.runtime} runner for environment ${id}: ${why}`);
    } finally {
      clearTimeout(timer);
      sampler?.stop();
    }
    env.startMs = performance.now() - t0;
    env.state = "idle";
    return { ...env.info };
  }

  async warm(id: string, request: WarmupRequest): Promise<WarmupResult> {
    const env = this.claim(id, "warm");
    const sampler = this.startSampler(env);
    const timer = setTimeout(
      () => this.kill(env, "timeout", `warm-up timed out after ${this.opts.warmTimeoutMs} ms`),
      this.opts.warmTimeoutMs,
    );
    try {
      const deps = env.info.spec.dependencies;
      const imported = await env.runner.request({ op: "import", modules: deps });
      if (!imported.ok) {
        if (imported.kind === "oom")
          await this.killAndWait(env, "oom", oomText(env.info.spec.resources.memoryMb, imported.error));
        throw new Error(`dependency "${imported.module}" failed to import: ${firstLine(imported.error)}`);
      }
      let warmupMs = 0;
      if (request.modulePath && request.fn === undefined) {
        // Import only: loads the task's code and its imports without running it (no side effects).
        const loaded = await env.runner.request({ op: "load", modulePath: request.modulePath });
        warmupMs = loaded.ms ?? 0;
        if (!loaded.ok) {
          if (loaded.kind === "oom")
            await this.killAndWait(env, "oom", oomText(env.info.spec.resources.memoryMb, loaded.error));
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
            await this.killAndWait(env, "oom", oomText(env.info.spec.resources.memoryMb, called.error));
          if (called.kind !== "error") throw new Error(`warm-up module failed: ${firstLine(called.error)}`);
          // The module is loaded, which is what warming is for; the input just did not suit it.
          this.log.warn({ envId: id, error: firstLine(called.error) }, "warm-up call threw");
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
      this.release(env);
    }
  }

  async run(id: string, inv: Invocation): Promise<RunResult> {
    const env = this.claim(id, "run");
    const pid = env.info.pid ?? -1;
    let inputJson: string;
    try {
      inputJson = JSON.stringify(inv.input ?? null);
    } catch (e) {
      this.release(env);
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
    const sampler = this.startSampler(env);
    const t0 = performance.now();
    const timer = setTimeout(
      () => this.kill(env, "timeout", `timed out after ${inv.timeoutMs} ms`),
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
        await this.killAndWait(env, "oom", text);
        return failedResult("oom", text, wallMs, cpuMs, inputBytes);
      }
      const [peakMemoryMb, written1] = await Promise.all([
        this.peakMb(env, sampler, hwmReset),
        readWriteBytes(pid),
      ]);
      const storageBytesWritten =
        written0 !== null && written1 !== null ? Math.max(0, written1 - written0) : 0;
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
      this.release(env);
    }
  }

  async resize(id: string, resources: ResourceVector): Promise<boolean> {
    const env = this.envs.get(id);
    if (!env || env.state === "dead" || !env.cgroup) return false;
    const ok = await env.cgroup.setLimits(resources);
    if (ok) env.info = { ...env.info, spec: { ...env.info.spec, resources: { ...resources } } };
    return ok;
  }

  async destroy(id: string): Promise<void> {
    const env = this.envs.get(id);
    if (!env) return;
    if (!env.destroying) {
      env.destroying = (async () => {
        env.killReason ??= { failure: "destroyed", error: "environment destroyed" };
        env.runner.kill("SIGTERM");
        const escalate = setTimeout(() => env.runner.kill("SIGKILL"), this.opts.killGraceMs);
        await env.outcome;
        clearTimeout(escalate);
      })();
    }
    await env.destroying;
  }

  list(): BackendEnvironment[] {
    return [...this.envs.values()]
      .filter((e) => e.state === "idle" || e.state === "busy")
      .map((e) => ({ ...e.info }));
  }

  async stats(id: string): Promise<EnvironmentStats | null> {
    const env = this.envs.get(id);
    const pid = env?.info.pid;
    if (!env || env.state === "dead" || pid == null) return null;
    const [rssMb, cpuMs] = await Promise.all([readRssMb(pid), readCpuMs(pid)]);
    if (rssMb === null || cpuMs === null) return null;
    return { rssMb, cpuMs };
  }

  onExit(listener: ExitListener): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    // Creates in flight either bail out at their next step or land in envs: wait for both.
    while (this.envs.size > 0 || this.creating.size > 0) {
      await Promise.allSettled([...[...this.envs.keys()].map((id) => this.destroy(id)), ...this.creating]);
    }
    await Promise.all([...this.exiting]);
    this.cgroups?.close();
  }

  /** Marks the environment busy for one request; the pool guarantees one at a time. */
  private claim(id: string, what: string): Env {
    const env = this.envs.get(id);
    if (!env || env.state === "dead") throw new Error(`unknown environment ${id}`);
    if (env.state !== "idle") throw new Error(`environment ${id} is ${env.state}; cannot ${what} now`);
    env.state = "busy";
    return env;
  }

  private release(env: Env): void {
    if (env.state === "busy") env.state = "idle";
  }

  private kill(env: Env, failure: RunFailure, error: string): void {
    env.killReason ??= { failure, error };
    env.runner.kill("SIGKILL");
  }

  private async killAndWait(env: Env, failure: RunFailure, error: string): Promise<void> {
    this.kill(env, failure, error);
    await env.outcome;
  }

  /** Without cgroups, the sampler is the memory limit: it kills a process above its limit. */
  private startSampler(env: Env): ProcSampler | null {
    const pid = env.info.pid;
    if (pid == null) return null;
    const sampler = new ProcSampler(pid, this.opts.sampleIntervalMs, (rssMb) => {
      const limit = env.info.spec.resources.memoryMb;
      if (env.cgroup === null && rssMb > limit)
        this.kill(env, "oom", oomText(env.info.spec.resources.memoryMb));
    });
    sampler.start();
    return sampler;
  }

  private async peakMb(env: Env, sampler: ProcSampler | null, hwmReset: boolean): Promise<number> {
    if (env.cgroup) {
      const bytes = await env.cgroup.peakBytes();
      if (bytes !== null) return bytes / (1024 * 1024);
    }
    const sampled = sampler?.maxRssMb ?? 0;
    if (!hwmReset || env.info.pid == null) return sampled;
    const hwmKb = await readStatusKb(env.info.pid, "VmHWM");
    return Math.max(sampled, (hwmKb ?? 0) / 1024);
  }

  /** Classifies an exit, removes the environment and its cgroup and scratch dir, then announces it. */
  private async handleExit(env: Env, exit: RunnerExit): Promise<ExitOutcome> {
    const wasStarting = env.state === "starting";
    env.state = "dead";
    if (this.envs.get(env.info.id) === env) this.envs.delete(env.info.id);
    const outcome = env.killReason ?? (await classifyExit(env, exit));
    if (env.cgroup) {
      const peak = await env.cgroup.peakBytes();
      env.finalPeakMb = peak === null ? null : peak / (1024 * 1024);
      await env.cgroup.remove();
    }
    await rm(env.scratchDir, { recursive: true, force: true }).catch(() => {});
    if (outcome.failure !== "destroyed" && !wasStarting) {
      const reason = `${outcome.failure}: ${outcome.error}`;
      this.log.info({ envId: env.info.id, reason }, "environment exited");
      for (const l of this.listeners) {
        try {
          l(env.info.id, reason);
        } catch (e) {
          this.log.error({ err: e, envId: env.info.id }, "exit listener threw");
        }
      }
    }
    return outcome;
  }
}

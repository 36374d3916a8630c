/**
 * The embedded default backend: every environment is a real OS process running a small runner
 * for its runtime (runners/), limited by its own cgroup v1 where that is writable and by an RSS
 * sampler where it is not.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { EnvironmentSpec, ResourceVector } from "../core/types.js";
import type { Logger } from "../log/logger.js";
import {
  type BackendEnvironment,
  type EnvironmentBackend,
  EnvironmentGoneError,
  type EnvironmentStats,
  type ExitListener,
  type Invocation,
  type RunResult,
  type WarmupRequest,
  type WarmupResult,
} from "./backend.js";
import { CgroupHost, type EnvCgroup } from "./cgroup.js";
import { killEnv, startSampler } from "./env-control.js";
import { runInEnv, warmEnv } from "./env-requests.js";
import { GroupReaper } from "./group-reaper.js";
import { readCpuMs, readRssMb } from "./proc-stats.js";
import {
  classifyExit,
  type Env,
  type ExitOutcome,
  type ProcessBackendOptions,
  safeSegment,
} from "./process-env.js";
import { type RunnerExit, RunnerExitedError } from "./runner-process.js";
import { nodeHeapLimitMb, nodeMemoryForHeap, resolvePythonExecutable, spawnRunner } from "./spawn-runner.js";
import { TenantRunners } from "./tenant-runners.js";

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
  private readonly opts: Required<
    Omit<ProcessBackendOptions, "logger" | "useCgroups" | "workDir" | "tenantUids">
  >;
  /** Tenants' uids and the clean-up after them, when runners run as tenant uids. */
  private readonly tenants: TenantRunners | null;
  private seq = 0;
  private closed = false;
  /** Ids whose create is in flight, and the creates themselves (close() waits for them). */
  private readonly reserved = new Set<string>();
  private readonly creating = new Set<Promise<BackendEnvironment>>();
  /** Kills the runners' process groups if this server dies without closing them. */
  private readonly reaper: GroupReaper;

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
    // Before anything is started: a refusal here leaves nothing running.
    this.tenants = options.tenantUids
      ? new TenantRunners(
          options.tenantUids,
          this.workDir,
          { ...this.opts, rootPython: this.opts.pythonBinary },
          this.log,
          (uid) => [...this.envs.values()].some((e) => e.uid === uid),
        )
      : null;
    this.reaper = new GroupReaper((why) =>
      this.log.warn({ event: "reaper_lost", error: why }, "process group reaper lost; starting another"),
    );
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
    const tenants = this.tenants;
    if (!tenants) return this.spawnEnv(id, user, spec, undefined);
    const uid = tenants.uids.uidFor(user);
    return tenants.whileCreating(uid, () => this.spawnEnv(id, user, spec, uid));
  }

  private async spawnEnv(
    id: string,
    user: string,
    spec: EnvironmentSpec,
    uid: number | undefined,
  ): Promise<BackendEnvironment> {
    const pythonBinary =
      spec.runtime !== "python3"
        ? this.opts.pythonBinary
        : this.tenants
          ? this.tenants.python
          : await resolvePythonExecutable(this.opts.pythonBinary);
    const segment = `${safeSegment(id)}-${this.seq++}`;
    const scratchDir = join(this.workDir, `${segment}-${randomBytes(3).toString("hex")}`);
    mkdirSync(scratchDir, { recursive: true });
    let cgroup: EnvCgroup | null = null;
    try {
      if (uid !== undefined) {
        // The tenant's alone: no other tenant (each has its own uid) can enter it.
        chownSync(scratchDir, uid, uid);
        chmodSync(scratchDir, 0o700);
      }
      if (this.cgroups) cgroup = await this.cgroups.createEnv(segment, spec.resources);
      // close() may have run during the awaits above; it waits for this create, so bail out here.
      if (this.closed) throw new Error("process backend is closed");
    } catch (e) {
      await cgroup?.remove();
      // Chowned to the tenant already: its other runners could be at work in it (tenant-runners.ts).
      if (uid !== undefined && this.tenants)
        await this.tenants.removeScratch(scratchDir, uid, true, this.log);
      else await rm(scratchDir, { recursive: true, force: true });
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
        ...(uid === undefined ? {} : { HOME: scratchDir }),
      },
      nodeBinary: this.opts.nodeBinary,
      pythonBinary,
      runnersDir: this.opts.runnersDir,
      ...(uid === undefined ? {} : { uid }),
    });
    this.reaper.watch(runner.pid);
    const env: Env = {
      info: {
        id,
        user,
        spec,
        pid: runner.pid,
        hardLimits: cgroup !== null,
        maxInPlaceMemoryMb:
          cgroup === null
            ? 0
            : spec.runtime === "node"
              ? nodeMemoryForHeap(nodeHeapLimitMb(spec.resources.memoryMb))
              : null,
        createdAt: Date.now(),
      },
      runner,
      cgroup,
      scratchDir,
      ...(uid === undefined ? {} : { uid }),
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
    const sampler = startSampler(env, this.opts.sampleIntervalMs);
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
      killEnv(env, "crashed", "start-up failed");
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
    return warmEnv(this.claim(id, "warm"), request, this.opts, this.log);
  }

  async run(id: string, inv: Invocation): Promise<RunResult> {
    return runInEnv(this.claim(id, "run"), inv, this.opts.sampleIntervalMs);
  }

  async resize(id: string, resources: ResourceVector): Promise<boolean> {
    const env = this.envs.get(id);
    if (!env || env.state === "dead" || !env.cgroup) return false;
    // A Node runner's heap limit is set at spawn and cannot be raised: grown past what it covers, the
    // environment would claim memory its tasks' heaps cannot use, and fail them as out of memory.
    const ceiling = env.info.maxInPlaceMemoryMb;
    if (ceiling !== null && resources.memoryMb > ceiling) return false;
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
    this.reaper.close();
    this.cgroups?.close();
    this.tenants?.close();
  }

  /**
   * Marks the environment busy for one request; the pool guarantees one at a time. The request
   * (env-requests.ts) releases it.
   */
  private claim(id: string, what: string): Env {
    const env = this.envs.get(id);
    if (!env || env.state === "dead") throw new EnvironmentGoneError(`unknown environment ${id}`);
    if (env.state !== "idle") throw new Error(`environment ${id} is ${env.state}; cannot ${what} now`);
    env.state = "busy";
    return env;
  }

  /** Classifies an exit and announces it, then removes the environment's cgroup and scratch dir. */
  private async handleExit(env: Env, exit: RunnerExit): Promise<ExitOutcome> {
    const wasStarting = env.state === "starting";
    env.state = "dead";
    // The runner's group was killed as it exited (runner-process.ts).
    this.reaper.forget(env.info.pid);
    if (this.envs.get(env.info.id) === env) this.envs.delete(env.info.id);
    const outcome = env.killReason ?? (await classifyExit(env, exit));
    // Announced before the cleanup (a busy cgroup or a big scratch dir can take long): until then the
    // pool still routes tasks to this environment.
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
    if (env.cgroup) {
      const peak = await env.cgroup.peakBytes();
      env.finalPeakMb = peak === null ? null : peak / (1024 * 1024);
      await env.cgroup.remove();
    }
    await this.removeScratch(env);
    return outcome;
  }

  /** Removes an environment's scratch directory (a tenant's with the tenant's rights: tenant-runners.ts). */
  private async removeScratch(env: Env): Promise<void> {
    const uid = env.uid;
    if (uid === undefined || !this.tenants) {
      await rm(env.scratchDir, { recursive: true, force: true }).catch(() => {});
      return;
    }
    const others = [...this.envs.values()].some((e) => e.uid === uid);
    await this.tenants.removeScratch(env.scratchDir, uid, others, this.log.child({ envId: env.info.id }));
  }
}

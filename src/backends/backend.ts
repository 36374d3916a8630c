import type { EnvironmentSpec, ResourceVector } from "../core/types.js";

/** What a backend is asked to run in an environment. */
export interface Invocation {
  taskId: string;
  /** Absolute path of the module file to import (the backend never resolves user paths itself). */
  modulePath: string;
  fn: string;
  input: unknown;
  timeoutMs: number;
}

export type RunFailure = "error" | "oom" | "crashed" | "timeout";

export interface RunResult {
  ok: boolean;
  output?: unknown;
  /** Why the run failed, when it did. */
  failure?: RunFailure;
  error?: string;
  /** Time the task's code ran, inside the runner. */
  wallMs: number;
  /** CPU time (user + system) spent by the environment during the run. */
  cpuMs: number;
  /** Peak resident memory during the run (cgroup peak where available, else process high-water mark). */
  peakMemoryMb: number;
  inputBytes: number;
  outputBytes: number;
  storageBytesWritten: number;
}

export interface WarmupRequest {
  /**
   * Optional task module, imported after the dependencies; with `fn` it is also called once with
   * `input` (a declared warm-up input), without `fn` it is only imported.
   */
  modulePath?: string;
  fn?: string;
  input?: unknown;
}

export interface WarmupResult {
  /** Time to start the process until the runner reported ready. */
  startMs: number;
  /** Time to import the declared dependencies. */
  importMs: number;
  /** Time of the warm-up call (0 when none). */
  warmupMs: number;
}

export interface BackendEnvironment {
  id: string;
  user: string;
  spec: EnvironmentSpec;
  pid: number | null;
  /** Whether hard limits (cgroups) apply to this environment. */
  hardLimits: boolean;
  /**
   * The largest memory (MiB) resize() can give it in place: null = no ceiling; 0 = it cannot be
   * resized in place at all (no hard limits). A Node worker's heap limit is fixed when it starts.
   */
  maxInPlaceMemoryMb: number | null;
  createdAt: number;
}

export interface EnvironmentStats {
  rssMb: number;
  cpuMs: number;
}

/**
 * Thrown by warm() and run() for an environment the backend no longer has (its worker exited, maybe
 * not announced through onExit yet): nothing was started in it.
 */
export class EnvironmentGoneError extends Error {}

/** Called when an environment's process exits without being destroyed. */
export type ExitListener = (envId: string, reason: string) => void;

/**
 * The seam between the pool and whatever hosts environments: real processes, a simulation,
 * later containers or Kubernetes pods.
 */
export interface EnvironmentBackend {
  readonly name: string;
  create(id: string, user: string, spec: EnvironmentSpec): Promise<BackendEnvironment>;
  warm(id: string, request: WarmupRequest): Promise<WarmupResult>;
  run(id: string, invocation: Invocation): Promise<RunResult>;
  /** Changes limits in place; returns false if this backend cannot (the pool then replaces it). */
  resize(id: string, resources: ResourceVector): Promise<boolean>;
  destroy(id: string): Promise<void>;
  list(): BackendEnvironment[];
  stats(id: string): Promise<EnvironmentStats | null>;
  onExit(listener: ExitListener): void;
  /** Destroys everything; used on shutdown. */
  close(): Promise<void>;
}

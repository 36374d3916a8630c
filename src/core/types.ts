/** Domain types shared by every module. See ../shared/design.md "Glossary". */

export const RUNTIMES = ["node", "python3"] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Resources an environment holds or a task needs. */
export interface ResourceVector {
  /** CPU cores (fractional allowed). */
  cpu: number;
  /** Memory in MiB. */
  memoryMb: number;
  /** Scratch storage in MiB. */
  storageMb: number;
  /** Network bandwidth in Mbit/s (advisory; not enforced by the process backend). */
  networkMbps: number;
}

/** What an environment can run: one runtime, one dependency set, one size. */
export interface EnvironmentSpec {
  runtime: Runtime;
  /** Modules imported during warm-up, sorted and de-duplicated. */
  dependencies: string[];
  resources: ResourceVector;
}

export type TaskStatus = "queued" | "running" | "succeeded" | "failed";
export const FINAL_STATUSES: readonly TaskStatus[] = ["succeeded", "failed"];

/** A submitted unit of work after validation and defaulting. */
export interface Task {
  id: string;
  user: string;
  /** Declared task type, or the one the classifier assigned. */
  taskType: string;
  /** Whether the client declared the type (the classifier leaves declared types alone). */
  typeDeclared: boolean;
  runtime: Runtime;
  /** Module path relative to the tasks directory (mutually exclusive with `code`). */
  entry?: string;
  /** Inline module source (mutually exclusive with `entry`). */
  code?: string;
  /** Exported function to call. */
  fn: string;
  dependencies: string[];
  input: unknown;
  inputBytes: number;
  /** 0 (lowest) … 9 (highest). */
  priority: number;
  resources?: Partial<ResourceVector>;
  timeoutMs: number;
  submittedAt: number;
}

/** Static-analysis fields of the task's code; filled by the analysis module (null until then). */
export interface CodeComplexity {
  linesOfCode: number | null;
  cyclomatic: number | null;
  functionCount: number | null;
  halsteadVolume: number | null;
  analysisError: string | null;
}

/** How the task was understood on arrival: its classification and resource estimate. */
export interface TaskInsightRecord {
  typeDeclared: boolean;
  /** Similarity to the matched (or nearest) prototype, when the classifier assigned the type. */
  similarity: number | null;
  matchedExisting: boolean | null;
  inputKind: string;
  sizeClass: number;
  /** Estimated p95 peak memory and duration and how many samples they rest on. */
  estimate: { peakMemoryMbP95: number; durationMsP95: number; cpuSecondsP95: number; samples: number } | null;
  /** Memory the router looked for (MiB). */
  routedMemoryMb: number;
}

/** Everything the history keeps about one task. Times are epoch milliseconds. */
export interface TaskRecord extends CodeComplexity {
  id: string;
  user: string;
  taskType: string;
  runtime: Runtime;
  entry: string | null;
  fn: string;
  dependencies: string[];
  inputBytes: number;
  priority: number;
  status: TaskStatus;
  submittedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  queueWaitMs: number | null;
  /** Time from the routing decision until the task began executing in its environment. */
  startLatencyMs: number | null;
  cold: boolean | null;
  environmentId: string | null;
  cpuSeconds: number | null;
  peakMemoryMb: number | null;
  networkInBytes: number | null;
  networkOutBytes: number | null;
  storageBytesWritten: number | null;
  outputBytes: number | null;
  exitStatus: string | null;
  error: string | null;
  /** Modules the code imports (static analysis). */
  imports: string[] | null;
  insight: TaskInsightRecord | null;
  /** The server that accepted the task (several servers may share one history). */
  owner: string | null;
  output?: unknown;
}

export function specKey(spec: EnvironmentSpec): string {
  const r = spec.resources;
  return `${spec.runtime}|${spec.dependencies.join(",")}|${r.cpu}c|${r.memoryMb}m|${r.storageMb}s`;
}

export function fitsWithin(need: ResourceVector, have: ResourceVector): boolean {
  return need.cpu <= have.cpu && need.memoryMb <= have.memoryMb && need.storageMb <= have.storageMb;
}

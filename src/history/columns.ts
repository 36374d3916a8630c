import type { TaskRecord } from "../core/types.js";

/** Column name of each TaskRecord field, shared by the SQL stores (unquoted). */
export const TASK_COLUMNS: Record<keyof TaskRecord, string> = {
  id: "id",
  user: "user",
  taskType: "task_type",
  runtime: "runtime",
  entry: "entry",
  fn: "fn",
  dependencies: "dependencies",
  inputBytes: "input_bytes",
  priority: "priority",
  status: "status",
  submittedAt: "submitted_at",
  startedAt: "started_at",
  finishedAt: "finished_at",
  queueWaitMs: "queue_wait_ms",
  startLatencyMs: "start_latency_ms",
  cold: "cold",
  environmentId: "environment_id",
  cpuSeconds: "cpu_seconds",
  peakMemoryMb: "peak_memory_mb",
  networkInBytes: "network_in_bytes",
  networkOutBytes: "network_out_bytes",
  storageBytesWritten: "storage_bytes_written",
  outputBytes: "output_bytes",
  exitStatus: "exit_status",
  error: "error",
  output: "output",
  linesOfCode: "lines_of_code",
  cyclomatic: "cyclomatic",
  functionCount: "function_count",
  halsteadVolume: "halstead_volume",
  analysisError: "analysis_error",
  imports: "imports",
  insight: "insight",
  owner: "owner",
};

/** Fields stored as JSON. */
export const JSON_FIELDS = new Set<keyof TaskRecord>(["dependencies", "output", "imports", "insight"]);

export const TASK_FIELDS = Object.keys(TASK_COLUMNS) as (keyof TaskRecord)[];

/** Fields stored as whole numbers (INTEGER in SQLite, bigint in PostgreSQL). */
const WHOLE_NUMBER_FIELDS = new Set<keyof TaskRecord>([
  "inputBytes",
  "priority",
  "submittedAt",
  "startedAt",
  "finishedAt",
  "networkInBytes",
  "networkOutBytes",
  "storageBytesWritten",
  "outputBytes",
  "linesOfCode",
  "cyclomatic",
  "functionCount",
]);

/**
 * A number as both stores keep it: NaN and ±Infinity as null (PostgreSQL would keep NaN, which then
 * poisons every rollup sum it enters; SQLite would keep null), whole-number fields rounded (PostgreSQL
 * refuses 1.5 for a bigint, which would leave the task's final update unwritten; SQLite kept it).
 */
export function storedNumber(field: keyof TaskRecord, value: number): number | null {
  if (!Number.isFinite(value)) return null;
  return WHOLE_NUMBER_FIELDS.has(field) ? Math.round(value) : value;
}

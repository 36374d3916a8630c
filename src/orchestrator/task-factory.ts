import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Value } from "@sinclair/typebox/value";
import type { Config } from "../config/config.js";
import {
  inputProblem,
  MAX_INPUT_DEPTH,
  type TaskSubmission,
  TaskSubmissionSchema,
  ValidationError,
} from "../core/submission.js";
import type { EnvironmentSpec, ResourceVector, Task } from "../core/types.js";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

/**
 * Checks a raw submission against the schema, and the input's nesting depth (which a schema cannot
 * bound); throws ValidationError naming the first bad field.
 */
export function validateSubmission(raw: unknown): TaskSubmission {
  const first = Value.Errors(TaskSubmissionSchema, raw).First();
  if (first) {
    const field = first.path.replace(/^\//, "").replaceAll("/", ".") || "(body)";
    throw new ValidationError(field, first.message);
  }
  const sub = raw as TaskSubmission;
  const problem = inputProblem(sub.input, MAX_INPUT_DEPTH, "input");
  if (problem?.kind === "tooDeep")
    throw new ValidationError(
      "input",
      `nested too deeply: at most ${MAX_INPUT_DEPTH} levels of arrays and objects`,
    );
  if (problem?.kind === "nonFinite")
    throw new ValidationError(
      problem.path,
      "a number beyond the range of a double (it would be passed on as null)",
    );
  return sub;
}

/**
 * Turns a validated submission into a Task: checks what the schema cannot (exactly one of entry and
 * code, the entry exists inside the tasks directory, the timeout bound), fills defaults, derives the
 * task type when none is declared.
 */
export function buildTask(sub: TaskSubmission, config: Config, tasksDir: string, now: number): Task {
  if ((sub.entry === undefined) === (sub.code === undefined)) {
    throw new ValidationError(
      sub.entry === undefined ? "entry" : "code",
      "give exactly one of entry and code",
    );
  }
  if (sub.entry !== undefined) {
    const resolved = path.resolve(tasksDir, sub.entry);
    if (!resolved.startsWith(tasksDir + path.sep)) {
      throw new ValidationError("entry", "entry must stay inside the tasks directory");
    }
    const ext = path.extname(resolved);
    if ((sub.runtime === "python3") !== (ext === ".py")) {
      throw new ValidationError(
        "entry",
        `a ${sub.runtime} task needs a ${sub.runtime === "python3" ? ".py" : ".mjs/.js"} module`,
      );
    }
    if (!fs.existsSync(resolved))
      throw new ValidationError("entry", `no module ${sub.entry} in the tasks directory`);
  }
  const timeoutMs = sub.timeoutMs ?? config.defaults.timeoutMs;
  if (timeoutMs > config.defaults.maxTimeoutMs) {
    throw new ValidationError("timeoutMs", `must be at most ${config.defaults.maxTimeoutMs}`);
  }
  // A task larger than the whole pool could never start: refused, not queued forever.
  const cpu = sub.resources?.cpu;
  if (cpu !== undefined && cpu > config.capacity.cpu)
    throw new ValidationError("resources.cpu", `must be at most the capacity, ${config.capacity.cpu}`);
  const memoryMb = sub.resources?.memoryMb;
  if (memoryMb !== undefined && memoryMb > config.capacity.memoryMb)
    throw new ValidationError(
      "resources.memoryMb",
      `must be at most the capacity, ${config.capacity.memoryMb} MB`,
    );
  const input = sub.input ?? null;
  const fn = sub.function ?? "handler";
  const dependencies = [...new Set(sub.dependencies ?? [])].sort();
  const codeId = sub.entry ?? `inline-${sha(sub.code ?? "").slice(0, 12)}`;
  const task: Task = {
    id: randomUUID(),
    user: sub.user,
    // Replaced by the classifier's type when none is declared.
    taskType: sub.type ?? `${sub.runtime}:${codeId}:${fn}`,
    typeDeclared: sub.type !== undefined,
    runtime: sub.runtime,
    fn,
    dependencies,
    input,
    inputBytes: Buffer.byteLength(JSON.stringify(input)),
    priority: sub.priority ?? 5,
    timeoutMs,
    submittedAt: now,
  };
  if (sub.entry !== undefined) task.entry = sub.entry;
  if (sub.code !== undefined) task.code = sub.code;
  if (sub.resources !== undefined) task.resources = sub.resources;
  return task;
}

/** The environment spec a task needs: its runtime and dependencies, its requested or default size. */
export function specForTask(task: Task, defaults: ResourceVector): EnvironmentSpec {
  return {
    runtime: task.runtime,
    dependencies: task.dependencies,
    resources: { ...defaults, ...task.resources },
  };
}

/**
 * Absolute path of the module to import. Inline code is stored content-addressed, so the same code is
 * one file and a warm environment's import cache keeps working for it; `readableByAll` (tenant uids)
 * makes the file readable by other users whatever the umask.
 */
export function modulePathFor(task: Task, tasksDir: string, codeDir: string, readableByAll = false): string {
  if (task.entry !== undefined) return path.resolve(tasksDir, task.entry);
  const code = task.code ?? "";
  const file = path.join(
    codeDir,
    `task_${sha(code).slice(0, 24)}.${task.runtime === "python3" ? "py" : "mjs"}`,
  );
  if (!fs.existsSync(file)) {
    fs.mkdirSync(codeDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code);
    // Tenant uids: every tenant's runner reads it, whatever the server's umask (tenant-files.ts).
    if (readableByAll) fs.chmodSync(tmp, 0o644);
    fs.renameSync(tmp, file);
  }
  return file;
}

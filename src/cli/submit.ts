import fs from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { ValidationError } from "../core/submission.js";
import { validateSubmission } from "../orchestrator/task-factory.js";

interface SubmitOptions {
  url: string;
  file?: string;
  user?: string;
  type?: string;
  runtime?: string;
  entry?: string;
  codeFile?: string;
  function?: string;
  dep: string[];
  input?: string;
  priority?: number;
  cpu?: number;
  memoryMb?: number;
  timeoutMs?: number;
  wait: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

/** A JSON value's kind for messages: "null", "an array", "a number", … */
function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Builds the submission from --file and/or flags (flags win), then validates it like the server does. */
export function submissionFromOptions(o: SubmitOptions): Record<string, unknown> {
  let sub: Record<string, unknown> = {};
  if (o.file) {
    const name = o.file === "-" ? "stdin" : o.file;
    const text = o.file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(o.file, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new ValidationError("(file)", `${name} is not valid JSON: ${(e as Error).message}`);
    }
    // The flags below set fields on it: anything but an object would crash there, not name the problem.
    if (!isObject(parsed))
      throw new ValidationError(
        "(file)",
        `${name} must hold a JSON object (the task), not ${jsonKind(parsed)}`,
      );
    sub = parsed;
  }
  if (o.user !== undefined) sub.user = o.user;
  if (o.type !== undefined) sub.type = o.type;
  if (o.runtime !== undefined) sub.runtime = o.runtime;
  if (o.entry !== undefined) sub.entry = o.entry;
  if (o.codeFile !== undefined) sub.code = fs.readFileSync(o.codeFile, "utf8");
  if (o.function !== undefined) sub.function = o.function;
  if (o.dep.length > 0) sub.dependencies = o.dep;
  if (o.input !== undefined) {
    try {
      sub.input = JSON.parse(o.input);
    } catch (e) {
      throw new ValidationError("input", `--input is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (o.priority !== undefined) sub.priority = o.priority;
  if (o.timeoutMs !== undefined) sub.timeoutMs = o.timeoutMs;
  if (o.cpu !== undefined || o.memoryMb !== undefined) {
    const given = sub.resources ?? {};
    if (!isObject(given))
      throw new ValidationError(
        "resources",
        `must be an object ({"cpu": …, "memoryMb": …}) for --cpu/--memory-mb to go into, not ${jsonKind(given)}`,
      );
    const r = given;
    if (o.cpu !== undefined) r.cpu = o.cpu;
    if (o.memoryMb !== undefined) r.memoryMb = o.memoryMb;
    sub.resources = r;
  }
  validateSubmission(sub);
  return sub;
}

export function registerSubmit(program: Command): void {
  program
    .command("submit")
    .description("Submit a task to a running server and print its result (JSON).")
    .option("--url <url>", "server address", process.env.FOREWARM_URL ?? "http://127.0.0.1:7300")
    .option("-f, --file <file>", "task as JSON (the POST /v1/tasks body); - reads stdin")
    .option("-u, --user <user>", "tenant id")
    .option("-t, --type <type>", "task type (derived from runtime and code when absent)")
    .option("-r, --runtime <runtime>", "node or python3")
    .option("-e, --entry <path>", "module path under the server's tasks directory")
    .option("--code-file <file>", "send this file's source as inline code")
    .option("--function <name>", "function to call (default handler)")
    .option("--dep <module>", "dependency to pre-load (repeatable)", collect, [])
    .option("-i, --input <json>", "JSON input")
    .option("--priority <n>", "0 lowest … 9 highest", num("--priority"))
    .option("--cpu <cores>", "CPU cores for the environment", num("--cpu"))
    .option("--memory-mb <mb>", "memory for the environment (MiB)", num("--memory-mb"))
    .option("--timeout-ms <ms>", "task timeout", num("--timeout-ms"))
    .option("--no-wait", "return the task id at once instead of waiting for the result")
    .action(async (o: SubmitOptions) => {
      let sub: Record<string, unknown>;
      try {
        sub = submissionFromOptions(o);
      } catch (e) {
        if (e instanceof ValidationError) {
          process.stderr.write(`forewarm submit: invalid task: ${e.field}: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
      const base = o.url.replace(/\/$/, "");
      // As `status` does: fetch's own message ("fetch failed") does not say where it went.
      const res = await fetch(`${base}/v1/tasks?wait=${o.wait}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(sub),
      }).catch((e: unknown) => {
        throw new Error(`cannot reach ${base}: ${e instanceof Error ? e.message : String(e)}`);
      });
      const body = (await res.json()) as Record<string, unknown>;
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      if (!res.ok) {
        process.stderr.write(`forewarm submit: server answered ${res.status}: ${String(body.message)}\n`);
        process.exitCode = 2;
      } else if (o.wait && body.status === "failed") process.exitCode = 1;
    });
}

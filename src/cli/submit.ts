import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { Command } from "commander";
import { ValidationError } from "../core/submission.js";
import { FINAL_STATUSES, type TaskStatus } from "../core/types.js";
import { validateSubmission } from "../orchestrator/task-factory.js";
import {
  answerJson,
  CA_HELP,
  errorText,
  request,
  serverAccess,
  statusLine,
  TOKEN_HELP,
} from "./http-answers.js";
import { numberOption } from "./trace-options.js";

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

/**
 * How long one request waits for the task. Node's fetch (undici) gives up on an answer whose headers
 * take 300 s, and tasks may run 900 s: a longer wait would fail with "fetch failed" while the task
 * runs on. So the POST waits at most this long, then the record is polled until it is final.
 * (undici's own Agent could lift the limit, but undici is not a dependency of this package.)
 */
export const WAIT_SLICE_MS = 240_000;
/** Between polls of a task that outlived the first wait. */
const POLL_MS = 1_000;

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
    .option("--priority <n>", "0 lowest … 9 highest", numberOption("--priority", { integer: true }))
    .option("--cpu <cores>", "CPU cores for the environment", numberOption("--cpu"))
    .option(
      "--memory-mb <mb>",
      "memory for the environment (MiB)",
      numberOption("--memory-mb", { integer: true }),
    )
    .option(
      "--timeout-ms <ms>",
      "task timeout",
      numberOption("--timeout-ms", { integer: true, what: "a whole number of ms" }),
    )
    .option("--no-wait", "return the task id at once instead of waiting for the result")
    .option("--token <token>", TOKEN_HELP)
    .option("--ca <file>", CA_HELP)
    .action(async (o: SubmitOptions & { token?: string; ca?: string }) => {
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
      const url = `${base}/v1/tasks?wait=${o.wait}${o.wait ? `&timeoutMs=${WAIT_SLICE_MS}` : ""}`;
      const access = serverAccess(o.token, o.ca);
      const res = await request(
        url,
        base,
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(sub) },
        access,
      );
      const body = await answerJson(url, res);
      if (!res.ok) {
        process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
        process.stderr.write(`forewarm submit: ${url} answered ${statusLine(res)}: ${errorText(body)}\n`);
        process.exitCode = 2;
        return;
      }
      let record = taskRecord(url, body);
      while (o.wait && !isFinal(record.status)) {
        await sleep(POLL_MS);
        const at = `${base}/v1/tasks/${encodeURIComponent(record.id)}`;
        const polled = await request(at, base, {}, access);
        const answer = await answerJson(at, polled);
        if (!polled.ok) throw new Error(`${at} answered ${statusLine(polled)}: ${errorText(answer)}`);
        record = taskRecord(at, answer);
      }
      process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      if (o.wait && record.status === "failed") process.exitCode = 1;
    });
}

const isFinal = (status: string): boolean => FINAL_STATUSES.includes(status as TaskStatus);

/** The part of a task record `submit` reads; any other field passes through. */
const TaskAnswer = Type.Object({
  id: Type.String(),
  status: Type.Union(["queued", "running", ...FINAL_STATUSES].map((x) => Type.Literal(x))),
});

/** The answer as a task record (at least its id and status), or an error naming the URL. */
function taskRecord(url: string, body: unknown): Record<string, unknown> & Static<typeof TaskAnswer> {
  const problem = Value.Errors(TaskAnswer, body).First();
  if (!problem) return body as Record<string, unknown> & Static<typeof TaskAnswer>;
  throw new Error(
    `${url} answered JSON that is not a forewarm task record (${problem.path || "(body)"}: ${problem.message}): ${JSON.stringify(body).slice(0, 200)}`,
  );
}

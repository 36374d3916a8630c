import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { EnvironmentBackend } from "../../src/backends/backend.js";
import { parseConfig } from "../../src/config/config.js";
import type { Clock } from "../../src/core/clock.js";
import { createLogger, type Logger, silentLogger } from "../../src/log/logger.js";
import { type RunningServer, startServer } from "../../src/server/serve.js";

export interface Harness {
  server: RunningServer;
  dir: string;
  tasksDir: string;
  post(body: unknown, query?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  get(url: string): Promise<{ status: number; body: Record<string, unknown> }>;
}

/** Writes a task module under the tasks directory. */
export function writeTask(tasksDir: string, rel: string, source: string): void {
  const file = path.join(tasksDir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
}

/**
 * A real server (real HTTP, SQLite file, worker processes) on a free port in a fresh data directory;
 * `options` replaces its clock or backend (made for the directory, given `dir`).
 */
export async function startHarness(
  config: Record<string, unknown> = {},
  options: { clock?: Clock; backend?: (dir: string) => EnvironmentBackend; logger?: Logger } = {},
): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-srv-"));
  const tasksDir = path.join(dir, "tasks");
  fs.mkdirSync(tasksDir, { recursive: true });
  const cfg = parseConfig({
    port: 0,
    dataDir: dir,
    tasksDir,
    logLevel: "silent",
    shutdownGraceMs: 2000,
    ...config,
  });
  const server = await startServer(
    cfg,
    options.logger ??
      (process.env.FOREWARM_TEST_LOG
        ? createLogger({ level: process.env.FOREWARM_TEST_LOG })
        : silentLogger()),
    {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.backend ? { backend: options.backend(dir) } : {}),
    },
  );
  const call = async (url: string, init?: RequestInit) => {
    const res = await fetch(`${server.url}${url}`, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return {
    server,
    dir,
    tasksDir,
    post: (body, query = "") =>
      call(`/v1/tasks${query}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    get: (url) => call(url),
  };
}

/**
 * A server running the forewarm window policy in scaled time for tests: planning every 20 ms, a
 * 20-s reactive floor (environments live on the policy's windows, as replay's apps do) and 10 s of
 * grace; `prediction` adds to or overrides those prediction settings.
 */
export function forewarmServerConfig(
  timeScale: number,
  forewarm: { price: number; memRefMb: number },
  prediction: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    timeScale,
    keepAliveMs: 20_000,
    reclaimIntervalMs: 20,
    prediction: {
      enabled: true,
      model: "interarrival",
      windowPolicy: "forewarm",
      forewarm,
      retrainIntervalMs: 1_000,
      planIntervalMs: 20,
      horizonMinutes: 30,
      graceMs: 10_000,
      ...prediction,
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until `check` returns a value (not undefined) or the attempts run out; `explain` adds the state
 * that was polled to the error, so a failure on a loaded CI machine says what it saw.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  attempts = 200,
  everyMs = 50,
  explain?: () => Promise<unknown>,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  const seen = explain
    ? await explain().catch((err: unknown) => `(explain failed: ${String(err)})`)
    : undefined;
  throw new Error(`condition not reached${seen === undefined ? "" : `; saw ${JSON.stringify(seen)}`}`);
}

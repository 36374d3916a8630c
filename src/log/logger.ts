import { type Logger, pino } from "pino";

export type { Logger };

/**
 * One structured logger for the process. Lines are JSON on stderr so that stdout stays free for
 * command output (tables, JSON results). Level from FOREWARM_LOG_LEVEL (default "info").
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const level = options.level ?? process.env.FOREWARM_LOG_LEVEL ?? "info";
  return pino({ level, name: options.name ?? "forewarm", base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything: for pure code under test and for benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

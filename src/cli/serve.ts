import type { Command } from "commander";
import { ConfigError, loadConfig } from "../config/config.js";
import { createLogger } from "../log/logger.js";
import { startServer } from "../server/serve.js";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Run the HTTP server on the embedded defaults (SQLite history, local worker processes).")
    .option("-p, --port <port>", "port to listen on (config: port, env: FOREWARM_PORT)")
    .option("--host <host>", "address to bind (config: host)")
    .option("-d, --data-dir <dir>", "data directory (config: dataDir, env: FOREWARM_DATA_DIR)")
    .option("-c, --config <file>", "JSON configuration file")
    .action(async (opts: { port?: string; host?: string; dataDir?: string; config?: string }) => {
      const overrides: Record<string, unknown> = {};
      if (opts.port !== undefined) {
        if (!/^\d+$/.test(opts.port))
          throw new ConfigError("port", `--port must be a number, got "${opts.port}"`);
        overrides.port = Number(opts.port);
      }
      if (opts.host !== undefined) overrides.host = opts.host;
      if (opts.dataDir !== undefined) overrides.dataDir = opts.dataDir;
      const loadOpts: Parameters<typeof loadConfig>[0] = { overrides };
      if (opts.config !== undefined) loadOpts.file = opts.config;
      const config = loadConfig(loadOpts);
      const logger = createLogger({ level: config.logLevel });
      const server = await startServer(config, logger);
      // Print where we listen on stdout too, so scripts (and tests) can read the port when it is 0.
      process.stdout.write(`forewarm listening on ${server.url}\n`);
      const stop = (signal: string) => {
        logger.info({ event: "shutdown", signal }, "shutting down");
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
    });
}

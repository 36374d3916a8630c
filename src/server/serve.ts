import path from "node:path";
import type { FastifyInstance } from "fastify";
import type { EnvironmentBackend } from "../backends/backend.js";
import { ProcessBackend } from "../backends/process-backend.js";
import { type Config, resolvedTasksDir } from "../config/config.js";
import { type Clock, RealClock, ScaledClock } from "../core/clock.js";
import { SqliteHistoryStore } from "../history/sqlite-store.js";
import type { HistoryStore } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { PredictionLoop } from "../orchestrator/prediction-loop.js";
import { TaskInsight } from "../orchestrator/task-insight.js";
import { buildApp } from "./app.js";

export interface RunningServer {
  app: FastifyInstance;
  orchestrator: Orchestrator;
  prediction: PredictionLoop | null;
  store: HistoryStore;
  backend: EnvironmentBackend;
  url: string;
  close(): Promise<void>;
}

/**
 * Composes the live system on the embedded defaults: SQLite history in the data directory, the process
 * backend, the real clock. Tasks left unfinished by a previous process are failed with a reason first.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: { clock?: Clock; backend?: EnvironmentBackend; store?: HistoryStore } = {},
): Promise<RunningServer> {
  const dataDir = path.resolve(config.dataDir);
  const clock =
    options.clock ?? (config.timeScale === 1 ? new RealClock() : new ScaledClock(config.timeScale));
  const store = options.store ?? new SqliteHistoryStore(path.join(dataDir, "history.db"));
  const interrupted = await store.failUnfinished(
    clock.now(),
    "interrupted: the server stopped before the task ended",
  );
  if (interrupted > 0)
    logger.warn({ event: "tasks_interrupted", count: interrupted }, "failed tasks left unfinished");
  const tasksDir = resolvedTasksDir(config);
  const backend =
    options.backend ??
    new ProcessBackend({
      workDir: path.join(dataDir, "envs"),
      logger,
      useCgroups: config.cgroups,
      // Python dependencies and helper modules may live beside the tasks.
      extraEnv: { PYTHONPATH: tasksDir, FOREWARM_TASKS_DIR: tasksDir },
    });
  const insight = new TaskInsight(dataDir, tasksDir, logger.child({ module: "insight" }));
  await insight.load(store);
  const orchestrator = new Orchestrator({
    insight,
    config,
    backend,
    store,
    clock,
    logger,
    tasksDir,
    codeDir: path.join(dataDir, "code"),
  });
  orchestrator.start();
  const prediction = config.prediction.enabled
    ? new PredictionLoop(config, orchestrator, store, clock, logger.child({ module: "prediction" }))
    : null;
  prediction?.start();
  const app = buildApp({ config, orchestrator, prediction, store, clock, logger, tasksDir });
  const url = await app.listen({ host: config.host, port: config.port });
  logger.info({ event: "listening", url, dataDir, tasksDir }, "forewarm serving");
  let closed: Promise<void> | null = null;
  return {
    app,
    orchestrator,
    prediction,
    store,
    backend,
    url,
    close() {
      closed ??= (async () => {
        prediction?.stop();
        await app.close();
        await orchestrator.shutdown(config.shutdownGraceMs);
        await store.close();
      })();
      return closed;
    },
  };
}

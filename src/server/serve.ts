import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { ApiTokens } from "../auth/api-tokens.js";
import { TokenFileError } from "../auth/token-file.js";
import type { EnvironmentBackend } from "../backends/backend.js";
import { ProcessBackend } from "../backends/process-backend.js";
import { tenantUidProblem } from "../backends/tenant-uids.js";
import { ClusterMembership } from "../cluster/membership.js";
import { ForewarmMetrics } from "../cluster/metrics.js";
import { type Config, ConfigError, resolvedTasksDir } from "../config/config.js";
import { type Clock, RealClock, ScaledClock } from "../core/clock.js";
import { prepareForecasters } from "../forecast/registry.js";
import { isConnectFailure, postgresConnectProblem } from "../history/postgres-connect-error.js";
import { PostgresHistoryStore } from "../history/postgres-store.js";
import { SqliteHistoryStore } from "../history/sqlite-store.js";
import type { HistoryStore } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { PredictionLoop } from "../orchestrator/prediction-loop.js";
import { TaskInsight } from "../orchestrator/task-insight.js";
import { buildApp } from "./app.js";
import { ClusterRole } from "./cluster-role.js";
import { wireMetrics } from "./metrics-wiring.js";
import { prepareTenantFiles } from "./tenant-files.js";
import { serverCertificate, watchTls } from "./tls-serving.js";

export interface RunningServer {
  app: FastifyInstance;
  orchestrator: Orchestrator;
  prediction: PredictionLoop | null;
  store: HistoryStore;
  backend: EnvironmentBackend;
  metrics: ForewarmMetrics;
  role: ClusterRole;
  serverId: string;
  url: string;
  close(): Promise<void>;
}

async function openStore(config: Config, dataDir: string): Promise<HistoryStore> {
  if (config.history.kind === "postgres") {
    try {
      return await PostgresHistoryStore.open({
        connectionString: config.history.url,
        schema: config.history.schema,
      });
    } catch (e) {
      // Reaching the database and being let in (address, TLS, pg_hba, password) is history.url's
      // business; a schema name PostgreSQL refuses (pg_*: 42939) is history.schema's; the rest stays.
      if (isConnectFailure(e))
        throw new ConfigError("history.url", postgresConnectProblem(config.history.url, e));
      if ((e as { code?: unknown }).code === "42939")
        throw new ConfigError("history.schema", (e as Error).message);
      throw e;
    }
  }
  return new SqliteHistoryStore(path.join(dataDir, "history.db"));
}

/** A path's stat; null if nothing is there; "under a file" when a parent is a file (ENOTDIR). */
function statOrNull(p: string): fs.Stats | null | "under a file" {
  try {
    return fs.statSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") return "under a file";
    throw err;
  }
}

/** Creates the data directory; a path that is a file (or under one) is refused naming `dataDir`. */
function ensureDataDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const stat = statOrNull(dir);
    throw new ConfigError(
      "dataDir",
      stat === "under a file"
        ? `${dir} is under a file, not a directory`
        : stat && !stat.isDirectory()
          ? `${dir} is a file, not a directory`
          : `cannot create ${dir}: ${(err as Error).message}`,
    );
  }
}

/** Refuses a tasks directory that exists as a file (one that does not exist yet may come later). */
function checkTasksDir(dir: string, configured: boolean): void {
  const stat = statOrNull(dir);
  // Under a file (ENOTDIR) it can never be created either.
  if (stat === "under a file" || (stat && !stat.isDirectory()))
    throw new ConfigError(
      "tasksDir",
      `${dir}${configured ? "" : " (the default, <dataDir>/tasks)"} is ${stat === "under a file" ? "under " : ""}a file, not a directory`,
    );
}

/**
 * Composes the live system. Embedded defaults: SQLite history in the data directory, the process
 * backend, the real clock, and this server as its own leader. With PostgreSQL, several servers share
 * the history; each plans its own pool from its forewarm windows, a lease elects the one that retrains
 * the models (and, with forecast windows, the only one that plans), and the leader fails the tasks of
 * servers that died. A server first fails the tasks it left unfinished itself. If start-up fails, what
 * it has opened (the history's connections, the liveness session, worker processes and threads, the
 * HTTP server), the store and backend given in `options` included, is closed before the error is
 * rethrown: nothing keeps the process alive or holds the server id.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: { clock?: Clock; backend?: EnvironmentBackend; store?: HistoryStore } = {},
): Promise<RunningServer> {
  const dataDir = path.resolve(config.dataDir);
  ensureDataDir(dataDir);
  const tasksDir = resolvedTasksDir(config);
  checkTasksDir(tasksDir, config.tasksDir !== undefined);
  const tenantUids = config.tenantUids.enabled
    ? {
        first: config.tenantUids.first,
        count: config.tenantUids.count,
        file: path.join(dataDir, "tenant-uids.json"),
      }
    : undefined;
  if (tenantUids && !options.backend) {
    const problem = tenantUidProblem(tenantUids);
    if (problem) throw new ConfigError("tenantUids", problem);
    prepareTenantFiles(dataDir, tasksDir);
  }
  const tokens = apiTokens(config, dataDir, logger);
  const certificate = serverCertificate(config, logger);
  const serverId = config.serverId ?? `${os.hostname()}:${dataDir}`;
  const clock =
    options.clock ?? (config.timeScale === 1 ? new RealClock() : new ScaledClock(config.timeScale));
  // What start-up has opened so far: closed, last first, if a later step fails.
  let store: HistoryStore | undefined = options.store;
  let membership: ClusterMembership | null = null;
  let backend: EnvironmentBackend | undefined = options.backend;
  let insight: TaskInsight | undefined;
  let orchestrator: Orchestrator | undefined;
  let prediction: PredictionLoop | null = null;
  let stopMetrics: (() => void) | undefined;
  let role: ClusterRole | undefined;
  let app: FastifyInstance | undefined;
  let stopWatching: () => void = () => {};
  try {
    store ??= await openStore(config, dataDir);
    const shared = config.history.kind === "postgres";
    // Before the membership: its events report to the metrics.
    const metrics = new ForewarmMetrics();
    membership = shared
      ? new ClusterMembership(config.history.url, serverId, {
          retryMs: config.cluster.leaseRetryMs,
          events: {
            lost: (err) => {
              metrics.setClusterMember(false);
              logger.error(
                { event: "membership_lost", error: err?.message ?? "session ended" },
                "the liveness session to PostgreSQL ended: other servers may take this one for dead and fail its running tasks; retaking it",
              );
            },
            regained: () => {
              metrics.setClusterMember(true);
              logger.warn(
                { event: "membership_regained" },
                "liveness lock retaken: this server is live again",
              );
            },
            retryFailed: (err) =>
              logger.warn(
                { event: "membership_retry_failed", error: err.message },
                "could not retake the liveness lock",
              ),
          },
        })
      : null;
    await membership?.start();
    const interrupted = await store.failUnfinished(
      clock.now(),
      "interrupted: the server stopped before the task ended",
      shared ? serverId : undefined,
    );
    if (interrupted > 0)
      logger.warn({ event: "tasks_interrupted", count: interrupted }, "failed tasks left unfinished");
    backend ??= new ProcessBackend({
      workDir: path.join(dataDir, "envs"),
      logger,
      useCgroups: config.cgroups,
      ...(tenantUids ? { tenantUids } : {}),
      // Python dependencies and helper modules may live beside the tasks.
      extraEnv: { PYTHONPATH: tasksDir, FOREWARM_TASKS_DIR: tasksDir },
    });
    insight = new TaskInsight(dataDir, tasksDir, logger.child({ module: "insight" }));
    await insight.load(store);
    orchestrator = new Orchestrator({
      insight,
      serverId,
      config,
      backend,
      store,
      clock,
      logger,
      tasksDir,
      codeDir: path.join(dataDir, "code"),
    });
    orchestrator.start();
    // Models backed by WebAssembly or tfjs (prophet, lstm) load their runtimes once, before serving.
    if (config.prediction.enabled) await prepareForecasters([config.prediction.model]);
    prediction = config.prediction.enabled
      ? new PredictionLoop(config, orchestrator, store, clock, logger.child({ module: "prediction" }))
      : null;
    stopMetrics = wireMetrics(metrics, orchestrator, prediction);
    role = new ClusterRole(config, store, membership, prediction, metrics, clock, logger, serverId);
    await role.start();
    app = buildApp({
      config,
      orchestrator,
      prediction,
      store,
      clock,
      logger,
      tasksDir,
      metrics,
      role,
      tokens,
      ...(certificate ? { certificate } : {}),
    });
    const url = await app.listen({ host: config.host, port: config.port });
    if (certificate) stopWatching = watchTls(certificate, app, config, metrics, logger);
    logger.info(
      {
        event: "listening",
        url,
        dataDir,
        tasksDir,
        serverId,
        history: config.history.kind,
        apiTokens: tokens ? tokens.size : "off",
        ...(certificate
          ? {
              tlsSubject: certificate.current.subject,
              tlsExpires: certificate.current.notAfter.toISOString(),
            }
          : {}),
      },
      "forewarm serving",
    );
    return running(
      config,
      { app, orchestrator, prediction, store, backend, metrics, role, serverId, url },
      membership,
      () => {
        stopWatching();
        stopMetrics?.();
      },
    );
  } catch (err) {
    stopWatching();
    await abandon(
      { app, role, prediction, stopMetrics, orchestrator, insight, backend, membership, store },
      logger,
    );
    throw err;
  }
}

/**
 * Closes what a failed start-up opened, last first; a step that fails is logged and the others still
 * run (the start-up's error is the one the caller hears).
 */
async function abandon(
  opened: {
    app: FastifyInstance | undefined;
    role: ClusterRole | undefined;
    prediction: PredictionLoop | null;
    stopMetrics: (() => void) | undefined;
    orchestrator: Orchestrator | undefined;
    insight: TaskInsight | undefined;
    backend: EnvironmentBackend | undefined;
    membership: ClusterMembership | null;
    store: HistoryStore | undefined;
  },
  logger: Logger,
): Promise<void> {
  const { app, role, prediction, stopMetrics, orchestrator, insight, backend, membership, store } = opened;
  const step = async (what: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      logger.warn(
        { event: "startup_cleanup_failed", what, error: (err as Error)?.message ?? String(err) },
        "closing after a failed start-up failed",
      );
    }
  };
  if (app) await step("http server", () => app.close());
  // The role stops the prediction loop it started.
  if (role) await step("cluster role", () => role.stop());
  else if (prediction) await step("prediction loop", () => prediction.stop());
  stopMetrics?.();
  // The orchestrator's shutdown closes its pool (and so the backend) and the task insight.
  if (orchestrator) await step("orchestrator", () => orchestrator.shutdown(0));
  else {
    if (insight) await step("task insight", () => insight.close());
    if (backend) await step("backend", () => backend.close());
  }
  if (membership) await step("cluster membership", () => membership.stop());
  if (store) await step("history store", () => store.close());
}

/** The running server's handle; close() stops it in order. */
function running(
  config: Config,
  parts: Omit<RunningServer, "close">,
  membership: ClusterMembership | null,
  /** Stops the metrics' sampling and the certificate's rechecks. */
  stopTimers: () => void,
): RunningServer {
  const { app, orchestrator, store, role } = parts;
  let closed: Promise<void> | null = null;
  return {
    ...parts,
    close() {
      closed ??= (async () => {
        await role.stop();
        stopTimers();
        // The orchestrator stops dispatching at once, not after the HTTP server has drained: a
        // `wait=true` request lasts as long as its task, and queued tasks must not start meanwhile.
        // Its shutdown ends every task, which answers those requests and lets the server close.
        const http = app.close();
        await orchestrator.shutdown(config.shutdownGraceMs);
        // The requests it answered were in flight when the close began, so their keep-alive
        // connections were not idle then, and Node closes idle ones only when asked: without this
        // the close waits for the client (up to Fastify's 72-s keep-alive timeout).
        const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
        try {
          await http;
        } finally {
          clearInterval(sweep);
        }
        await membership?.stop();
        await store.close();
      })();
      return closed;
    },
  };
}

/**
 * The API tokens of `auth.tokensFile` (null without one). A bad file stops the start, naming the field;
 * later changes are logged. Without tokens on an address other hosts can reach, anyone there could run
 * code as any tenant: said loudly at start.
 */
function apiTokens(config: Config, dataDir: string, logger: Logger): ApiTokens | null {
  const file = config.auth.tokensFile;
  if (file === undefined) {
    if (!isLoopback(config.host))
      logger.warn(
        { event: "no_api_tokens", host: config.host },
        `listening on ${config.host} without API tokens: anyone who reaches it can run code as any tenant; set auth.tokensFile`,
      );
    return null;
  }
  const log = logger.child({ module: "auth" });
  let tokens: ApiTokens;
  try {
    tokens = new ApiTokens(file, (change) => {
      if ("error" in change)
        log.error(
          { event: "tokens_file_rejected", error: change.error },
          "tokens file not taken; the previous tokens stay in force",
        );
      else log.info({ event: "tokens_file_reloaded", tokens: change.tokens }, "API tokens reloaded");
    });
  } catch (e) {
    if (e instanceof TokenFileError) throw new ConfigError("auth.tokensFile", e.message);
    throw e;
  }
  // forewarm owns what is in the data directory (scratch dirs are emptied at start, tenantUids
  // refuses foreign files): a tokens file there could vanish and take revocations with it.
  if (tokens.realPath.startsWith(fs.realpathSync(dataDir) + path.sep))
    throw new ConfigError(
      "auth.tokensFile",
      `${file} is inside dataDir ${dataDir}, whose content forewarm manages; keep it elsewhere (e.g. /etc/forewarm)`,
    );
  return tokens;
}

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);

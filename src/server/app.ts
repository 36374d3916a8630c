import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import type { ApiTokens } from "../auth/api-tokens.js";
import type { ForewarmMetrics } from "../cluster/metrics.js";
import { type Config, MAX_TIMER_MS, reactiveKeepAliveMs, WAIT_GRACE_MS } from "../config/config.js";
import type { Clock } from "../core/clock.js";
import { ValidationError } from "../core/submission.js";
import type { HistoryStore } from "../history/store.js";
import type { Logger } from "../log/logger.js";
import { type Orchestrator, QueueFullError, ShuttingDownError } from "../orchestrator/orchestrator.js";
import type { PredictionLoop } from "../orchestrator/prediction-loop.js";
import { buildTask, validateSubmission } from "../orchestrator/task-factory.js";
import { confinedUser, requireTokens, userFilter } from "./access.js";
import type { ClusterRole } from "./cluster-role.js";
import { DeniedLog } from "./denied-log.js";

export interface AppDeps {
  config: Config;
  orchestrator: Orchestrator;
  prediction: PredictionLoop | null;
  store: HistoryStore;
  clock: Clock;
  logger: Logger;
  tasksDir: string;
  metrics: ForewarmMetrics;
  role: ClusterRole;
  /** API tokens (auth.tokensFile); null: every caller may do everything (a loopback-only server). */
  tokens: ApiTokens | null;
  /** Serve HTTPS with the certificate in force (config `tls`; renewals are set by tls-serving.ts, and /healthz shows it); none: plain HTTP. */
  certificate?: { readonly current: { key: Buffer; cert: Buffer; subject: string; notAfter: Date } };
}

interface ErrorBody {
  error: string;
  field: string | null;
  message: string;
}

const err = (error: string, field: string | null, message: string): ErrorBody => ({ error, field, message });

function parseWait(q: Record<string, string | undefined>): { wait: boolean; timeoutMs: number | null } {
  const w = q.wait;
  if (w !== undefined && w !== "true" && w !== "false")
    throw new ValidationError("wait", "must be true or false");
  const t = q.timeoutMs;
  // Nine digits keep the wait well within a Node timer (2^31−1 ms), which would otherwise fire at once.
  if (t !== undefined && !/^\d{1,9}$/.test(t))
    throw new ValidationError("timeoutMs", "must be a whole number of ms, at most 999999999");
  return { wait: w === "true", timeoutMs: t === undefined ? null : Number(t) };
}

/**
 * The HTTP API. Fastify: mainstream, fast, with body limits and a clean error hook; bodies are checked
 * with the same TypeBox schema the CLI uses (no type coercion, unknown fields rejected), so an error
 * names the field the same way everywhere.
 */
export function buildApp(d: AppDeps): FastifyInstance {
  // Typed as the plain HTTP instance everywhere else: routes and hooks do not differ, and the one
  // HTTPS-only call (setSecureContext, on a renewal) casts the server in tls-serving.ts.
  const pair = d.certificate?.current;
  const https = pair ? { https: { key: pair.key, cert: pair.cert } } : {};
  const app = Fastify({
    ...(https as object),
    // Never `true`: anyone could then name any address in X-Forwarded-For.
    ...(d.config.trustedProxies.length > 0 ? { trustProxy: d.config.trustedProxies } : {}),
    loggerInstance: d.logger as FastifyBaseLogger,
    // Decisions are logged by the orchestrator; per-request lines would drown them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: d.config.limits.maxBodyBytes,
    // Errors Fastify raises before a route runs (a malformed percent-encoding in the URL): the API's
    // own error shape, not Fastify's.
    frameworkErrors: (e, _req, reply) => {
      // Typed for routes with response schemas; this one sends the API's error body.
      (reply as unknown as FastifyReply)
        .status(e.statusCode ?? 400)
        .send(err("bad_request", "(url)", e.message));
    },
  });

  app.setErrorHandler((e: FastifyError, _req, reply) => {
    if (e instanceof ValidationError)
      return reply
        .status(e.status)
        .send(err(e.status === 403 ? "forbidden" : "invalid_request", e.field, e.message));
    if (e instanceof QueueFullError) return reply.status(429).send(err("queue_full", null, e.message));
    if (e instanceof ShuttingDownError) return reply.status(503).send(err("shutting_down", null, e.message));
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply
        .status(413)
        .send(err("payload_too_large", "(body)", `body exceeds ${d.config.limits.maxBodyBytes} bytes`));
    }
    if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return reply.status(415).send(err("unsupported_media_type", "(body)", "send application/json"));
    }
    const status = e.statusCode ?? 500;
    if (status < 500) return reply.status(status).send(err("bad_request", "(body)", e.message));
    d.logger.error({ err: e }, "request failed");
    return reply.status(500).send(err("internal", null, "internal error"));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(err("not_found", null, `no route ${req.method} ${req.url}`));
  });
  if (d.tokens) {
    const deniedLog = new DeniedLog(d.logger.child({ module: "auth" }));
    app.addHook("onClose", async () => deniedLog.close());
    requireTokens(app, d.tokens, (denial) => {
      d.metrics.apiRequestDenied(denial.reason);
      deniedLog.note(denial);
    });
  }

  app.post("/v1/tasks", async (req, reply) => {
    const { wait, timeoutMs } = parseWait(singleQuery(req.query, ["wait", "timeoutMs"]));
    const sub = validateSubmission(req.body);
    const own = confinedUser(req);
    if (own !== undefined && sub.user !== own)
      throw new ValidationError(
        "user",
        `this token acts for '${own}' and may not submit as '${sub.user}'`,
        403,
      );
    // While the cluster takes this server for dead, the leader fails whatever it accepts (after it
    // may have run): send the client elsewhere until the liveness lock is retaken.
    if (!d.role.isClusterMember)
      return reply
        .status(503)
        .send(
          err(
            "not_cluster_member",
            null,
            "this server lost its liveness lock in PostgreSQL and is retaking it; submit to another server or retry shortly",
          ),
        );
    const task = buildTask(sub, d.config, d.tasksDir, d.clock.now());
    await d.orchestrator.submit(task);
    if (!wait) return reply.status(202).send({ id: task.id, status: "queued", taskType: task.taskType });
    // The config caps task timeouts so this fits a timer; the min guards that invariant.
    const waitMs = timeoutMs ?? Math.min(task.timeoutMs + WAIT_GRACE_MS, MAX_TIMER_MS);
    const record = await d.orchestrator.waitFor(task.id, waitMs);
    return reply.status(200).send(record);
  });

  app.get("/v1/tasks/:id", async (req, reply) => {
    const { id } = req.params as { id: string };
    // No task has such an id (ids are UUIDs); the store need not be asked.
    const found = isPlainText(id) ? await d.store.getTask(id) : null;
    // Another tenant's task is answered as if it did not exist: its id says nothing to this token.
    const own = confinedUser(req);
    const record = found && (own === undefined || found.user === own) ? found : null;
    if (!record) return reply.status(404).send(err("not_found", "id", `no task ${id}`));
    return record;
  });

  app.get("/v1/tasks", async (req) => {
    const q = singleQuery(req.query, ["user", "type", "limit"]);
    const limit = q.limit === undefined ? 100 : /^\d+$/.test(q.limit) ? Number(q.limit) : Number.NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new ValidationError("limit", "must be a whole number from 1 to 10000");
    }
    const query: Parameters<HistoryStore["listTasks"]>[0] = { limit };
    const user = userFilter(req, nameFilter(q, "user"));
    const type = nameFilter(q, "type");
    if (user !== undefined) query.user = user;
    if (type !== undefined) query.taskType = type;
    return { tasks: await d.store.listTasks(query) };
  });

  app.get("/v1/environments", async (req) => {
    const snap = d.orchestrator.snapshot();
    const own = confinedUser(req);
    const all = d.orchestrator.pool.describe();
    const environments = own === undefined ? all : all.filter((e) => e.user === own);
    return { now: snap.now, capacity: snap.capacity, environments };
  });

  app.get("/v1/forecasts", async (req) => {
    const q = singleQuery(req.query, ["user", "type"]);
    const user = userFilter(req, nameFilter(q, "user"));
    const type = nameFilter(q, "type");
    if (!d.prediction) return { enabled: false, forecasts: [] };
    const filter: { user?: string; type?: string } = {};
    if (user !== undefined) filter.user = user;
    if (type !== undefined) filter.type = type;
    return { enabled: true, forecasts: d.prediction.latestForecasts(filter) };
  });

  // The forewarm window policy's decisions (windowPolicy "forewarm"): the live counterpart of
  // `forewarm replay --decisions`, one line per busy minute of a series.
  app.get("/v1/decisions", async (req) => {
    const q = singleQuery(req.query, ["sinceMinute", "user", "series"]);
    const user = userFilter(req, nameFilter(q, "user"));
    const series = nameFilter(q, "series");
    const since =
      q.sinceMinute === undefined
        ? Number.NEGATIVE_INFINITY
        : /^-?\d+$/.test(q.sinceMinute)
          ? Number(q.sinceMinute)
          : Number.NaN;
    if (q.sinceMinute !== undefined && !Number.isInteger(since)) {
      throw new ValidationError("sinceMinute", "must be a whole number of minutes since the epoch");
    }
    const policy = d.config.prediction.windowPolicy;
    const all = d.prediction?.windows?.decisions ?? [];
    const decisions = all.filter(
      (w) =>
        w.minute >= since &&
        (user === undefined || w.user === user) &&
        (series === undefined || w.series === series),
    );
    const price = d.prediction?.windows?.price ?? null;
    return { enabled: d.prediction !== null, windowPolicy: policy, price, decisions };
  });

  app.get("/v1/plan", async () => {
    const snap = d.orchestrator.snapshot();
    const plan = d.prediction?.lastPlan ?? null;
    const actual = snap.environments.map((e) => ({
      id: e.id,
      user: e.user,
      state: e.state,
      shadow: e.shadow,
      memoryMb: e.spec.resources.memoryMb,
      hold: e.hold,
    }));
    return {
      enabled: d.prediction !== null,
      now: snap.now,
      lastRetrain: d.prediction?.lastRetrain ?? null,
      desired: plan?.desired ?? [],
      skipped: plan?.skipped ?? [],
      actual,
      leadTimesMs: Object.fromEntries(d.orchestrator.pool.leadTimes()),
      counters: {
        ...d.orchestrator.counters,
        environmentsCreated: d.orchestrator.pool.counters.created,
        wastedMbSeconds: d.orchestrator.pool.counters.wastedMbMs / 1000,
        reclaimsByReason: Object.fromEntries(d.orchestrator.pool.counters.reclaimsByReason),
      },
    };
  });

  app.get("/healthz", async (req) => {
    // With API tokens, anyone may probe but only operators learn the host, data directory and load.
    if (d.tokens && req.principal?.role !== "operator")
      return { ok: true, clusterMember: d.role.isClusterMember };
    const snap = d.orchestrator.snapshot();
    return {
      ok: true,
      serverId: d.role.serverId,
      leader: d.role.isLeader,
      // False while a lost liveness session to PostgreSQL is being retaken (see /metrics).
      clusterMember: d.role.isClusterMember,
      history: d.config.history.kind,
      queueLength: d.orchestrator.queueLength,
      environments: snap.environments.length,
      // Differs by server: short where forewarm windows plan this pool, 10 minutes elsewhere.
      keepAliveMs: reactiveKeepAliveMs(d.config, d.orchestrator.planning()),
      ...(d.certificate
        ? {
            tls: {
              subject: d.certificate.current.subject,
              expires: d.certificate.current.notAfter.toISOString(),
            },
          }
        : {}),
    };
  });

  app.get("/v1/cluster", async () => ({
    serverId: d.role.serverId,
    leader: d.role.isLeader,
    clusterMember: d.role.isClusterMember,
    lease: await d.role.leaderInfo(),
  }));

  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", d.metrics.contentType);
    return d.metrics.render();
  });

  return app;
}

/** Query parameters, each given at most once (a repeated key is an array: refused, naming it). */
function singleQuery(raw: unknown, allowed: readonly string[]): Record<string, string | undefined> {
  const q = (raw ?? {}) as Record<string, string | string[] | undefined>;
  for (const [k, v] of Object.entries(q)) {
    // A misspelt parameter (`wiat=true`, `usr=alice`) would otherwise be ignored: every tenant's
    // tasks listed, or no wait, without a word.
    if (!allowed.includes(k))
      throw new ValidationError(k, `unknown query parameter; this route takes ${allowed.join(", ")}`);
    if (Array.isArray(v)) throw new ValidationError(k, "give this query parameter once");
  }
  return q as Record<string, string | undefined>;
}

/** A name filter (user, type, series): absent, or non-empty text a name can be. */
function nameFilter(q: Record<string, string | undefined>, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (v === "") throw new ValidationError(key, "must not be empty (leave it out to list all)");
  if (!isPlainText(v))
    throw new ValidationError(key, "must be at most 256 characters, without control characters");
  return v;
}

/** At most 256 characters, none a control character (PostgreSQL text cannot even hold NUL). */
const isPlainText = (v: string): boolean => {
  if (v.length > 256) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
};

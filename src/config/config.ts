import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
// Light: the model modules load their runtimes (WebAssembly, tfjs) only when prepared.
import { forecasterNames } from "../forecast/registry.js";
import { LEARNER_DEFAULTS, LEARNER_SWITCHES } from "../plan/forewarm-learner.js";
import { ConfigError } from "./config-error.js";
import { envSource, readEnv } from "./env-overrides.js";

export { ConfigError } from "./config-error.js";

const Resources = Type.Object(
  {
    cpu: Type.Number({ exclusiveMinimum: 0, maximum: 256, default: 1 }),
    memoryMb: Type.Integer({ minimum: 16, maximum: 1_048_576, default: 256 }),
    storageMb: Type.Integer({ minimum: 0, default: 512 }),
    networkMbps: Type.Number({ minimum: 0, default: 100 }),
  },
  { additionalProperties: false, default: {} },
);

/** Longest delay a Node timer holds (2^31−1 ms): a longer one overflows and fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;
/** How much longer than its task's timeout a `wait=true` request waits for the final record. */
export const WAIT_GRACE_MS = 60_000;
/** Longest task timeout: the task's timer and its waiter's (timeout + WAIT_GRACE_MS) must both hold it. */
export const MAX_TASK_TIMEOUT_MS = MAX_TIMER_MS - WAIT_GRACE_MS;

/** A PostgreSQL schema name forewarm uses (lower case, unquoted). */
export const SCHEMA_NAME_PATTERN = "^[a-z_][a-z0-9_]*$";

export const ConfigSchema = Type.Object(
  {
    // Not empty: Node would listen on every interface, opening the API (which runs code) to the network.
    host: Type.String({ minLength: 1, default: "127.0.0.1" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7300 }),
    /** Where the history lives: an embedded SQLite file, or PostgreSQL shared by several servers. */
    history: Type.Object(
      {
        kind: Type.Union([Type.Literal("sqlite"), Type.Literal("postgres")], { default: "sqlite" }),
        url: Type.String({ minLength: 1, default: "postgres://postgres@127.0.0.1:5432/postgres" }),
        schema: Type.String({ pattern: SCHEMA_NAME_PATTERN, default: "forewarm" }),
        /** Drop finished history older than this many days, daily (PostgreSQL: whole monthly partitions). 0 keeps all. */
        retentionDays: Type.Integer({ minimum: 0, default: 0 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** This server's id in a cluster; defaults to host name and data directory (stable across restarts). */
    serverId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    cluster: Type.Object(
      {
        /** Followers try to take the leader lease this often; takeover happens within about this long. */
        leaseRetryMs: Type.Integer({ minimum: 50, default: 2000 }),
        /**
         * A server whose liveness lock the leader finds free this long without a break counts as dead
         * (its unfinished tasks are failed). Longer than a live server needs to retake its lock after
         * its session ended (a database restart): retries every leaseRetryMs, checks time out in 10 s.
         */
        goneAfterMs: Type.Integer({ minimum: 0, default: 20000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Holds the SQLite history, inline task code and environment scratch dirs. */
    dataDir: Type.String({ minLength: 1, default: "./data" }),
    /** Root that `entry` paths of submitted tasks are resolved under; defaults to <dataDir>/tasks. */
    tasksDir: Type.Optional(Type.String({ minLength: 1 })),
    capacity: Type.Object(
      {
        cpu: Type.Number({ exclusiveMinimum: 0, default: 8 }),
        memoryMb: Type.Integer({ minimum: 16, default: 8192 }),
        maxEnvironments: Type.Integer({ minimum: 1, default: 32 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Idle environments no plan holds are reclaimed after this long. Left out: 1 minute on a server
     * whose "forewarm" windows plan (they decide how long a series stays loaded; the minute bridges the
     * wait for the decision after a busy minute, as replay's M2 measures it), else 10 minutes (the
     * OpenWhisk/Lambda-style default of a reactive pool: prediction off, forecast windows, or a server
     * whose windows are still relearning the history). See reactiveKeepAliveMs.
     */
    keepAliveMs: Type.Optional(Type.Integer({ minimum: 0 })),
    /** How often the pool looks for expired environments and records concurrency. */
    reclaimIntervalMs: Type.Integer({ minimum: 10, default: 1000 }),
    queue: Type.Object(
      { maxLength: Type.Integer({ minimum: 1, default: 1000 }) },
      { additionalProperties: false, default: {} },
    ),
    defaults: Type.Object(
      {
        resources: Resources,
        timeoutMs: Type.Integer({ minimum: 1, default: 60_000 }),
        maxTimeoutMs: Type.Integer({ minimum: 1, default: 900_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      {
        /** Largest accepted request body (HTTP 413 above it). */
        maxBodyBytes: Type.Integer({ minimum: 1024, default: 1_048_576 }),
        /** Largest stored task output; larger outputs are kept as a truncation note. */
        maxStoredOutputBytes: Type.Integer({ minimum: 0, default: 65_536 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Hard limits through cgroup v1: "auto" uses them where writable. */
    cgroups: Type.Union([Type.Literal("auto"), Type.Boolean()], { default: "auto" }),
    /**
     * Each tenant's runners run as a uid of its own (first, first + 1, … in the order tenants first run),
     * not as the server's user: tenants cannot signal the server or each other, nor read each other's
     * working directories or the server's files. Needs root and setpriv; the range must hold no
     * existing user's, group's or subordinate id (src/backends/tenant-uids.ts).
     */
    tenantUids: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        // 0x70000000: above systemd-nspawn's container uids (524288–1879048191), below 2^31.
        first: Type.Integer({ minimum: 1000, maximum: 2_147_483_646, default: 1_879_048_192 }),
        count: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 65_536 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * API tokens: with `tokensFile` set, every route but /healthz needs `Authorization: Bearer <token>`,
     * and a tenant's token acts for that tenant alone (src/server/access.ts). The file holds hashes
     * (`forewarm token new` writes it) and is re-read when it changes. Left out: no authentication.
     */
    auth: Type.Object(
      { tokensFile: Type.Optional(Type.String({ minLength: 1 })) },
      { additionalProperties: false, default: {} },
    ),
    /**
     * HTTPS: with `certFile` and `keyFile` (PEM; the certificate file may hold the chain after the
     * server's certificate) the API is served over TLS only. Both files are checked every `recheckMs`
     * and a renewed pair is taken without a restart (src/server/server-certificate.ts). Left out: plain
     * HTTP (put a TLS proxy in front on a network).
     */
    tls: Type.Object(
      {
        certFile: Type.Optional(Type.String({ minLength: 1 })),
        keyFile: Type.Optional(Type.String({ minLength: 1 })),
        recheckMs: Type.Integer({ minimum: 100, default: 10_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Proxies in front of the server (a TLS terminator, a load balancer) whose X-Forwarded-For names
     * the client: their addresses or CIDR ranges, e.g. ["10.0.0.0/8"]. Only the client address in logs
     * (refused API requests) depends on it; left empty, that address is the connecting socket's.
     */
    trustedProxies: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /** How long SIGTERM waits for running tasks before failing them. */
    shutdownGraceMs: Type.Integer({ minimum: 0, default: 10_000 }),
    /**
     * Time runs this many times faster than the wall clock (1 = real time). For demos and accelerated
     * tests of the prediction loop; every time in the system (history, keep-alive, plans) follows it.
     */
    timeScale: Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 1 }),
    prediction: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        /** Forecaster name (see `forewarm forecast --help`); auto chooses per series. */
        model: Type.String({ minLength: 1, default: "auto" }),
        /** How often models are refitted (wall-clock ms) and on how many minutes of history. */
        retrainIntervalMs: Type.Integer({ minimum: 10, default: 300_000 }),
        windowMinutes: Type.Integer({ minimum: 10, default: 10_080 }),
        /** How often the planner runs (wall-clock ms) and how far ahead it looks (minutes). */
        planIntervalMs: Type.Integer({ minimum: 10, default: 5_000 }),
        horizonMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 60 }),
        level: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.8 }),
        /** A series without arrivals for this long gets no shadows ("the user went quiet"). */
        quietMinutes: Type.Integer({ minimum: 1, default: 120 }),
        /** Series fitted per slice before yielding to the event loop (keeps API latency flat). */
        retrainSliceSize: Type.Integer({ minimum: 1, default: 200 }),
        confidenceThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.4 }),
        minArrivalProbability: Type.Number({ minimum: 0, maximum: 1, default: 0.05 }),
        graceMs: Type.Integer({ minimum: 0, default: 60_000 }),
        shadowCapacityFraction: Type.Number({ minimum: 0, maximum: 1, default: 0.8 }),
        maxPerSeries: Type.Integer({ minimum: 1, default: 8 }),
        /** "forewarm": extra environments over the concurrency a window holds (its fractile n), ⌊h·√n⌋. */
        concurrencyHeadroom: Type.Number({ minimum: 0, maximum: 4, default: 0.5 }),
        defaultLeadMs: Type.Integer({ minimum: 0, default: 30_000 }),
        leadFactor: Type.Number({ minimum: 1, default: 1.5 }),
        /**
         * "threshold": minutes with P(arrival) ≥ minArrivalProbability; "cost": expected-cost window on
         * the forecast; "forewarm": replay's forewarm policy itself (per-series gap learner; see `forewarm`).
         */
        windowPolicy: Type.Union(
          [Type.Literal("threshold"), Type.Literal("cost"), Type.Literal("forewarm")],
          {
            default: "forewarm",
          },
        ),
        pricePerGbMinute: Type.Number({ minimum: 0, default: 0.4 }),
        /** The "forewarm" window policy: the same parameters as `forewarm replay --policies forewarm:…`. */
        forewarm: Type.Object(
          {
            /** Cost of 1000 idle minutes of a memRefMb environment, in cold starts (replay's `price`). */
            price: Type.Number({ exclusiveMinimum: 0, default: 1 }),
            memRefMb: Type.Number({ exclusiveMinimum: 0, default: 100 }),
            /**
             * Instead of a fixed price: at most this % of fixed 10-minute keep-alive's idle memory-time
             * (budget) or cold starts under this % of arrivals (target), the price re-fitted on the busy
             * minutes seen so far (replay's `budget=` / `target=`). 0 = off; give one, not both.
             */
            budgetPct: Type.Number({ minimum: 0, default: 0 }),
            targetColdPct: Type.Number({ minimum: 0, maximum: 100, default: 0 }),
            /** First re-fit this long after the first busy minute; then as the past doubles, capped. */
            calibrateAfterMinutes: Type.Integer({ minimum: 1, default: 60 }),
            calibrationMaxIntervalMinutes: Type.Integer({ minimum: 1, default: 1440 }),
            /** Busy minutes a re-fit replays (bounds its time: ~14 replays of this many decisions). */
            calibrationEntries: Type.Integer({ minimum: 100, default: 20_000 }),
            /**
             * At start, relearn only the last this many minutes of the history window first and plan
             * from them; the whole window is relearnt in the background and swapped in once caught up.
             * 0 (or ≥ windowMinutes) = relearn the whole window before planning.
             */
            quickRelearnMinutes: Type.Integer({ minimum: 0, default: 1440 }),
            /** Series the learner tracks (state is preallocated, ~400 bytes each, twice while a full learner is relearnt); more stay reactive. */
            maxSeries: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
            /** Learner settings by replay's parameter names (prior, cond, groupWeight, daily, ratio …). */
            learner: Type.Object(
              Object.fromEntries(
                Object.keys(LEARNER_DEFAULTS).map((k) => [
                  k,
                  Type.Optional(
                    (LEARNER_SWITCHES as readonly string[]).includes(k)
                      ? Type.Union([Type.Literal(0), Type.Literal(1)])
                      : // `daily` is a share of probability mass.
                        Type.Number(k === "daily" ? { minimum: 0, maximum: 1 } : { minimum: 0 }),
                  ),
                ]),
              ),
              { additionalProperties: false, default: {} },
            ),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    logLevel: Type.Union(
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
      { default: "info" },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

/** Reactive keep-alive when the configuration leaves it out. */
export const KEEP_ALIVE_FOREWARM_MS = 60_000;
export const KEEP_ALIVE_REACTIVE_MS = 600_000;

/**
 * How long an idle environment no plan holds stays: `keepAliveMs` when given; else 1 minute while this
 * server's forewarm windows plan (`planning`: relearnt and a plan applied), 10 minutes otherwise.
 */
export function reactiveKeepAliveMs(config: Config, planning: boolean): number {
  if (config.keepAliveMs !== undefined) return config.keepAliveMs;
  const windows = config.prediction.enabled && config.prediction.windowPolicy === "forewarm";
  return planning && windows ? KEEP_ALIVE_FOREWARM_MS : KEEP_ALIVE_REACTIVE_MS;
}

/** The schema of the config field at `path` (undefined where the schema has no such field). */
function fieldSchema(path: readonly string[]): TSchema | undefined {
  let node: TSchema | undefined = ConfigSchema;
  for (const p of path) {
    const props: Record<string, TSchema> | undefined = (node as { properties?: Record<string, TSchema> })
      .properties;
    node = props?.[p];
    if (!node) return undefined;
  }
  return node;
}

/** Whether a field holds text (a string or a choice of string literals): its value is not JSON. */
function isText(schema: TSchema | undefined): boolean {
  if (!schema) return false;
  if (schema.type === "string") return true;
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  return Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every((s) => s.type === "string");
}

/** Whether the config field at `path` holds text: an environment variable's value is taken as is. */
const isTextField = (path: readonly string[]): boolean => isText(fieldSchema(path));

/**
 * FOREWARM_<PATH> environment variables override the file: `__` separates levels and snake case maps
 * to camel case, e.g. FOREWARM_CAPACITY__MEMORY_MB=4096 → capacity.memoryMb. A text field takes the
 * value as it is (FOREWARM_SERVER_ID=42 is the id "42"); other fields parse it as JSON (numbers,
 * booleans, objects), and a value that is not JSON stays a string for validation to name. Unknown
 * paths are kept too, so that validation names a misspelt variable's field (and loadConfig the
 * variable). Objects merge deeply whatever the variables' order (see readEnv).
 */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  return readEnv(env, isTextField).values;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      typeof v === "object" && v !== null && !Array.isArray(v) && typeof b === "object" && b !== null
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Validates a raw configuration object and fills defaults; throws ConfigError naming the field. */
export function parseConfig(raw: unknown): Config {
  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw ?? {}));
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const field = first.path.replace(/^\//, "").replaceAll("/", ".") || "(root)";
    throw new ConfigError(field, first.message);
  }
  const config = withDefaults as Config;
  // Checked here, not when the prediction loop starts: start-up would have opened the history and
  // the cluster session by then, and the error would not name the field.
  const models = ["auto", ...forecasterNames()];
  if (!models.includes(config.prediction.model))
    throw new ConfigError(
      "prediction.model",
      `unknown forecaster "${config.prediction.model}" (known: ${models.join(", ")})`,
    );
  // Durations that become Node timers: past 2^31−1 ms a timer fires at once instead of never, so a
  // huge value would mean "immediately" (a timeout killing every task, an interval spinning).
  const timers: [string, number, number][] = [
    ["defaults.maxTimeoutMs", config.defaults.maxTimeoutMs, MAX_TASK_TIMEOUT_MS],
    ["reclaimIntervalMs", config.reclaimIntervalMs, MAX_TIMER_MS],
    ["cluster.leaseRetryMs", config.cluster.leaseRetryMs, MAX_TIMER_MS],
    ["cluster.goneAfterMs", config.cluster.goneAfterMs, MAX_TIMER_MS],
    ["tls.recheckMs", config.tls.recheckMs, MAX_TIMER_MS],
    ["prediction.retrainIntervalMs", config.prediction.retrainIntervalMs, MAX_TIMER_MS],
    ["prediction.planIntervalMs", config.prediction.planIntervalMs, MAX_TIMER_MS],
  ];
  for (const [field, value, max] of timers)
    if (value > max)
      throw new ConfigError(
        field,
        max === MAX_TASK_TIMEOUT_MS
          ? `must be at most ${max} ms (2^31−1, the longest Node timer, less the ${WAIT_GRACE_MS} ms a waiting request adds)`
          : `must be at most ${max} ms (2^31−1, the longest Node timer)`,
      );
  // Fields that are valid alone but not together: every task without a timeout, or of the default
  // size, would be refused or queue forever.
  if (config.defaults.timeoutMs > config.defaults.maxTimeoutMs)
    throw new ConfigError(
      "defaults.timeoutMs",
      `must be at most defaults.maxTimeoutMs (${config.defaults.maxTimeoutMs})`,
    );
  if (config.defaults.resources.cpu > config.capacity.cpu)
    throw new ConfigError("defaults.resources.cpu", `must be at most capacity.cpu (${config.capacity.cpu})`);
  if (config.defaults.resources.memoryMb > config.capacity.memoryMb)
    throw new ConfigError(
      "defaults.resources.memoryMb",
      `must be at most capacity.memoryMb (${config.capacity.memoryMb})`,
    );
  // One without the other would serve plain HTTP where HTTPS was meant (or fail at the first handshake).
  if ((config.tls.certFile === undefined) !== (config.tls.keyFile === undefined))
    throw new ConfigError(
      config.tls.certFile === undefined ? "tls.certFile" : "tls.keyFile",
      "set tls.certFile and tls.keyFile together (HTTPS needs both)",
    );
  config.trustedProxies.forEach((entry, i) => {
    const [addr, prefix, ...rest] = entry.split("/");
    const family = net.isIP(addr ?? "");
    const bits = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      rest.length > 0 ||
      (prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= bits))
    )
      throw new ConfigError(
        `trustedProxies.${i}`,
        `'${entry}' is not an IP address or CIDR range (10.0.0.5, 10.0.0.0/8, fd00::/8)`,
      );
    if (prefix !== undefined && Number(prefix) === 0)
      throw new ConfigError(
        `trustedProxies.${i}`,
        `'${entry}' would trust every address to name its client: list the proxies' addresses`,
      );
  });
  const fw = config.prediction.forewarm;
  if (fw.budgetPct > 0 && fw.targetColdPct > 0) {
    throw new ConfigError(
      "prediction.forewarm.targetColdPct",
      "give a budgetPct or a targetColdPct, not both",
    );
  }
  return config;
}

/** Defaults ← file (JSON) ← FOREWARM_* environment ← explicit overrides (CLI flags). */
export function loadConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> } = {},
): Config {
  let fromFile: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = fs.readFileSync(options.file, "utf8");
    } catch (err) {
      throw new ConfigError("(file)", `cannot read ${options.file}: ${(err as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError("(file)", `${options.file} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile)) {
      throw new ConfigError("(root)", `${options.file} must hold a JSON object`);
    }
  }
  const env = readEnv(options.env ?? process.env, isTextField);
  const overrides = options.overrides ?? {};
  try {
    return parseConfig(merge(merge(fromFile, env.values), overrides));
  } catch (err) {
    const name = err instanceof ConfigError ? envSource(err, env, overrides) : undefined;
    if (name === undefined) throw err;
    throw new ConfigError((err as ConfigError).field, (err as ConfigError).reason, `${name}, environment`);
  }
}

export function resolvedTasksDir(config: Config): string {
  return path.resolve(config.tasksDir ?? path.join(config.dataDir, "tasks"));
}

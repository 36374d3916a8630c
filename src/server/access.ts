/**
 * Who may call which route when the server has API tokens (`auth.tokensFile`). A tenant's token acts
 * for that tenant only: it submits as that user and sees that user's tasks, environments, forecasts
 * and decisions, nothing of other tenants (not even whether a task id exists). An operator's token
 * sees everything; a metrics token (Prometheus) reads /metrics alone. /healthz stays open for probes.
 */
import net from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ApiTokens, Principal } from "../auth/api-tokens.js";
import type { Role } from "../auth/token-file.js";
import { ValidationError } from "../core/submission.js";
import type { Denial } from "./denied-log.js";

/** Routes each role may call, as "METHOD pattern" (operators may call all). */
const ALLOWED: Record<Exclude<Role, "operator">, ReadonlySet<string>> = {
  tenant: new Set([
    "POST /v1/tasks",
    "GET /v1/tasks",
    "GET /v1/tasks/:id",
    "GET /v1/environments",
    "GET /v1/forecasts",
    "GET /v1/decisions",
  ]),
  metrics: new Set(["GET /metrics"]),
};
/** Open to anyone (health probes); without an operator token they answer what a probe needs only. */
const OPEN = new Set(["GET /healthz"]);

declare module "fastify" {
  interface FastifyRequest {
    /** The caller, when the server has API tokens (null: none, or an open route). */
    principal: Principal | null;
  }
}

/** Longest path kept in the log of refused requests. */
const MAX_LOGGED_PATH = 200;
const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** What the log of refused requests says of `req`. */
function denialOf(req: FastifyRequest, reason: Denial["reason"], token?: string): Denial {
  return {
    reason,
    // The socket's address, or the client's as a trusted proxy forwards it (config trustedProxies)
    // when that is an address at all: a client inside a trusted range could write anything there.
    ip: net.isIP(req.ip) ? req.ip : (req.socket.remoteAddress ?? "(unknown)"),
    method: req.method,
    // Cut: a 15-kB path from each of 10,000 addresses would be 150 MB of log a minute.
    path: clip(req.url.split("?")[0]!, MAX_LOGGED_PATH),
    ...(token === undefined ? {} : { token }),
  };
}

/** By the wall clock, not the server's (scaled in accelerated runs): an expiry is a real date. */
const expired = (who: Principal): who is Principal & { expires: number } =>
  who.expires !== undefined && Date.now() >= who.expires;

const deny = (reply: FastifyReply, status: 401 | 403, message: string) => {
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="forewarm"');
  return reply
    .status(status)
    .send({ error: status === 401 ? "unauthorized" : "forbidden", field: "authorization", message });
};

/** Adds the token check in front of every route (before the body is read). */
export function requireTokens(
  app: FastifyInstance,
  tokens: ApiTokens,
  denied: (denial: Denial) => void,
): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    // HEAD is GET without the body (Fastify adds a HEAD route for each GET): the same rights.
    const route = `${req.method === "HEAD" ? "GET" : req.method} ${req.routeOptions.url ?? "(none)"}`;
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
    if (OPEN.has(route)) {
      // Open to probes whatever they send; a valid token only adds what its holder may see.
      const who = m ? tokens.principalOf(m[1]!) : undefined;
      if (who && !expired(who)) req.principal = who;
      return;
    }
    if (!m) {
      denied(denialOf(req, "missing"));
      return deny(
        reply,
        401,
        header === undefined
          ? "this server requires an API token: send 'Authorization: Bearer <token>' (forewarm token new; the CLI's --token or FOREWARM_TOKEN)"
          : "malformed Authorization header: expected 'Bearer <token>'",
      );
    }
    const who = tokens.principalOf(m[1]!);
    if (!who) {
      denied(denialOf(req, "unknown"));
      return deny(reply, 401, "unknown API token (never issued, or revoked)");
    }
    if (expired(who)) {
      denied(denialOf(req, "expired", who.name));
      return deny(
        reply,
        401,
        `API token '${who.name}' expired at ${new Date(who.expires).toISOString()} (forewarm token new issues another)`,
      );
    }
    // No such route: the not-found handler says so (to a caller with a token only).
    if (req.routeOptions.url === undefined) return;
    if (who.role !== "operator" && !ALLOWED[who.role].has(route)) {
      denied(denialOf(req, "forbidden", who.name));
      return deny(
        reply,
        403,
        `${who.role} token '${who.name}' may not call ${req.method} ${req.url.split("?")[0]}${who.role === "tenant" ? " (operator tokens only)" : ""}`,
      );
    }
    req.principal = who;
  });
}

/** The tenant a request is confined to (undefined: any, an operator or a server without tokens). */
export function confinedUser(req: FastifyRequest): string | undefined {
  return req.principal?.role === "tenant" ? req.principal.user : undefined;
}

/**
 * A `user` filter under a tenant's token: its own user, whatever was asked; asking for another's is an
 * error naming the field, not an empty answer that would read as "that tenant has none".
 */
export function userFilter(req: FastifyRequest, asked: string | undefined): string | undefined {
  const own = confinedUser(req);
  if (own === undefined) return asked;
  if (asked !== undefined && asked !== own)
    throw new ValidationError("user", `this token acts for '${own}' and may not see '${asked}'`, 403);
  return own;
}

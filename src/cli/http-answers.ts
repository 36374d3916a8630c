/** Reading a forewarm server's answers in the CLI: errors that name the URL, the status and why. */
import crypto from "node:crypto";
import fs from "node:fs";
import { ISSUER_UNKNOWN, isUntrustedSigner } from "../core/certificate-errors.js";
import { httpsRequest } from "./https-request.js";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The CLI's help for `--token`: the environment keeps it out of `ps` and shell history. */
export const TOKEN_HELP =
  "API token of a server with auth.tokensFile (prefer the env FOREWARM_TOKEN: arguments show in ps)";

/** The CLI's help for `--ca`. */
export const CA_HELP =
  "PEM file of the CA (or self-signed certificate) that signed an https server's certificate, when the system's CAs did not (env FOREWARM_CA)";

/** How the CLI reaches a server: its API token and the CA its certificate is checked against. */
export interface ServerAccess {
  token?: string;
  /** PEM; none: the system's CAs (Node's default). */
  ca?: Buffer;
}

/** `--token`, else FOREWARM_TOKEN, else none. */
export function tokenOption(given: string | undefined): string | undefined {
  const token = given || process.env.FOREWARM_TOKEN || undefined;
  // Checked here: fetch would say "fetch failed" or "Cannot convert argument to a ByteString".
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token))
    throw new Error(
      `${given ? "--token" : "FOREWARM_TOKEN"}: not a token (printable ASCII without spaces, as forewarm token new prints them)`,
    );
  return token;
}

/** `--token` / FOREWARM_TOKEN and `--ca` / FOREWARM_CA, checked (a CA file that is not one is named). */
export function serverAccess(token: string | undefined, ca: string | undefined): ServerAccess {
  const access: ServerAccess = {};
  const t = tokenOption(token);
  if (t !== undefined) access.token = t;
  const caFile = ca || process.env.FOREWARM_CA || undefined;
  if (caFile !== undefined) {
    const name = ca ? "--ca" : "FOREWARM_CA";
    try {
      access.ca = fs.readFileSync(caFile);
    } catch (e) {
      throw new Error(`${name}: cannot read ${caFile}: ${(e as Error).message}`);
    }
    try {
      new crypto.X509Certificate(access.ca);
    } catch {
      throw new Error(`${name}: ${caFile} holds no PEM certificate`);
    }
  }
  return access;
}

/** Why a request failed, from fetch's "fetch failed" down to the cause, with what would help. */
function unreachable(base: string, e: unknown, ca: boolean): Error {
  let cause: unknown = e;
  // fetch wraps the socket's error: the innermost message says what happened.
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const err = cause as NodeJS.ErrnoException;
  const message = cause instanceof Error ? cause.message : String(cause);
  let hint = "";
  if (isUntrustedSigner(err.code))
    hint = ca
      ? " (the certificate is not signed by the CA of --ca / FOREWARM_CA, nor by one this system trusts)"
      : " (pass the CA that signed the server's certificate with --ca or FOREWARM_CA)";
  if (err.code && ISSUER_UNKNOWN.has(err.code))
    hint = `${hint.slice(0, -1)}; or the server's tls.certFile lacks its intermediate certificates)`;
  else if (
    base.startsWith("http:") &&
    /other side closed|socket hang up|ECONNRESET/.test(`${message} ${err.code}`)
  )
    hint = " (does the server serve HTTPS? then use an https:// --url)";
  return new Error(`cannot reach ${base}: ${message}${hint}`);
}

/**
 * A request to the server, naming it when it cannot be reached (fetch's own message is "fetch
 * failed"), with the API token as a bearer header when there is one. With a CA it goes through
 * node:https (Node 20's fetch cannot be given a CA) and is answered as a fetch Response.
 */
export async function request(
  url: string,
  base: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  access: ServerAccess = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (access.token !== undefined) headers.authorization = `Bearer ${access.token}`;
  try {
    if (access.ca && url.startsWith("https:"))
      return await httpsRequest(url, { ...init, headers }, access.ca);
    return await fetch(url, { ...init, headers });
  } catch (e) {
    throw unreachable(base, e, access.ca !== undefined);
  }
}

/** "502 Bad Gateway": the status and its reason phrase, when the server sent one. */
export const statusLine = (res: Response): string =>
  res.statusText ? `${res.status} ${res.statusText}` : String(res.status);

/**
 * An answer's JSON body. Anything else — a proxy's HTML error page, plain text — is an error naming
 * the URL, the status and the content type, instead of JSON.parse's "Unexpected token '<'".
 */
export async function answerJson(url: string, res: Response): Promise<unknown> {
  const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
  if (!/^application\/([\w.-]+\+)?json$/i.test(type)) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`${url} answered ${statusLine(res)} (${type || "no content type"}), not JSON`);
  }
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`${url} answered ${statusLine(res)} with malformed JSON: ${(e as Error).message}`);
  }
}

/** What a forewarm error body says (`{error, field, message}`), or the JSON itself when it is not one. */
export const errorText = (body: unknown): string =>
  isObject(body) && typeof body.message === "string"
    ? `${body.field ? `${String(body.field)}: ` : ""}${body.message}`
    : JSON.stringify(body);

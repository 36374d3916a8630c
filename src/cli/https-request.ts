/**
 * The CLI's requests to an https server whose CA it was given (--ca / FOREWARM_CA): Node 20's fetch
 * takes no CA, so these go through node:https and are answered as fetch Responses, with fetch's
 * redirect rules.
 */
import fs from "node:fs";
import https from "node:https";
import { Readable } from "node:stream";
import tls from "node:tls";

/**
 * The CAs of NODE_EXTRA_CA_CERTS, which Node adds to its default trust (and fetch's) but not to
 * tls.rootCertificates: an explicit `ca` replaces the default, so they are added back by hand.
 */
function extraCaCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [fs.readFileSync(file, "utf8")];
  } catch {
    // Node itself only warns about an unreadable file; so does its absence here (nothing added).
    return [];
  }
}

/** Redirects followed, as fetch follows them (its limit is 20). */
const MAX_REDIRECTS = 20;

/**
 * One request through node:https trusting the system's CAs and `ca` (added, as NODE_EXTRA_CA_CERTS
 * adds: a FOREWARM_CA left set does not break publicly signed servers), following redirects as fetch
 * does (303, and 301/302 after a POST, continue as a GET without the body).
 */
export async function httpsRequest(
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
  ca: Buffer,
): Promise<Response> {
  let at = url;
  let method = init.method ?? "GET";
  let body = init.body;
  let headers = init.headers;
  const trusted = [...tls.rootCertificates, ...extraCaCertificates(), ca.toString("utf8")];
  for (let hop = 0; ; hop++) {
    const res = await httpsOnce(at, { method, headers, ...(body === undefined ? {} : { body }) }, trusted);
    const location = res.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(res.status) || location === null) return res;
    await res.body?.cancel();
    if (hop === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, at);
    if (next.protocol !== "https:") throw new Error(`redirected to ${next.href}, not https`);
    // As fetch does: the API token goes to the server's origin only.
    if (next.origin !== new URL(at).origin) {
      const { authorization: _, ...rest } = headers;
      headers = rest;
    }
    at = next.href;
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      method = "GET";
      body = undefined;
      const { "content-type": _, ...rest } = headers;
      headers = rest;
    }
  }
}

/** fetch's (undici's) wait for an answer's headers, and for each part of its body. */
const QUIET_MS = 300_000;

/**
 * One request; answered as soon as the headers arrive, the body streamed (as fetch does): an answer
 * that is not JSON is refused by its content type without reading it, however long it is.
 */
function httpsOnce(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  ca: string[],
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method, headers: init.headers, ca }, (res) => {
      const status = res.statusCode ?? 502;
      const answer = new Headers();
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) answer.set(k, Array.isArray(v) ? v.join(", ") : v);
      // Statuses without a body may not be given one (the Response constructor throws).
      const nullBody = [101, 204, 205, 304].includes(status);
      if (nullBody) res.resume();
      const body = nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, statusText: res.statusMessage ?? "", headers: answer }));
    });
    // A server that goes quiet (before its headers or mid-body) fails the request, as fetch's would.
    req.setTimeout(QUIET_MS, () =>
      req.destroy(new Error(`no answer from ${new URL(url).origin} for ${QUIET_MS / 1000} s`)),
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/** Reading a forewarm server's answers in the CLI: errors that name the URL, the status and why. */

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The CLI's help for `--token`: the environment keeps it out of `ps` and shell history. */
export const TOKEN_HELP =
  "API token of a server with auth.tokensFile (prefer the env FOREWARM_TOKEN: arguments show in ps)";

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

/**
 * `fetch`, naming the server when it cannot be reached (fetch's own message is "fetch failed"), with
 * the API token as a bearer header when there is one.
 */
export async function request(
  url: string,
  base: string,
  init: RequestInit = {},
  token?: string,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
  try {
    return await fetch(url, { ...init, headers });
  } catch (e) {
    throw new Error(`cannot reach ${base}: ${e instanceof Error ? e.message : String(e)}`);
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

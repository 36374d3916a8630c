/** Helpers of the API-token tests: calls with a bearer token, tokens issued with the real CLI. */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { forewarm } from "../cli/cli-process.js";
import { type Harness, startHarness } from "./harness.js";

export type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

/** A call with `token` as its bearer (none: no Authorization header). */
export async function call(h: Harness, url: string, token?: string, init: RequestInit = {}): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
  const res = await fetch(`${h.server.url}${url}`, { ...init, headers });
  const text = await res.text();
  // HEAD answers carry GET's headers without a body.
  const body =
    text !== "" && res.headers.get("content-type")?.startsWith("application/json")
      ? (JSON.parse(text) as Record<string, unknown>)
      : { text };
  return { status: res.status, body, headers: res.headers };
}

export const submit = (h: Harness, token: string | undefined, user: string, query = "?wait=true") =>
  call(h, `/v1/tasks${query}`, token, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, runtime: "node", entry: "echo.mjs", input: user }),
  });

/** A token issued with the CLI (`forewarm token new`), as an operator would. */
export async function issue(file: string, ...args: string[]): Promise<string> {
  const r = await forewarm(["token", "new", "--file", file, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^fw_[A-Za-z0-9_-]{43}$/);
  return token;
}

/** A start that should be refused; if it is not, the server is closed (not left holding the test run open). */
export async function refusedStart(tokensFile: string, config: Record<string, unknown> = {}): Promise<void> {
  const h = await startHarness({ ...config, auth: { tokensFile } });
  await h.server.close();
  throw new assert.AssertionError({ message: `the server started on ${tokensFile}` });
}

export const tokensDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "fw-tokens-"));

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { promisify } from "node:util";
import { cli, submitArgs } from "./cli-process.js";

const run = promisify(execFile);

/** Node's fetch (undici) fails a request whose answer's headers take longer than this. */
const UNDICI_HEADERS_TIMEOUT_MS = 300_000;

test("submit waits for a task longer than fetch's 300 s header timeout: a shorter server-side wait, then polling", async () => {
  // A server standing in for a task that outlives the first wait: the POST's wait runs out while the
  // task runs (the server answers the current record, as its timeoutMs says), and the record turns
  // final only on the second poll.
  const seen: string[] = [];
  let polls = 0;
  const record = (status: string) => ({
    id: "t-1",
    status,
    user: "a",
    output: status === "succeeded" ? 42 : null,
  });
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => {
      const body = req.method === "POST" ? record("running") : record(++polls >= 2 ? "succeeded" : "running");
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const { stdout } = await run(process.execPath, [cli, ...submitArgs(url)]);
    const out = JSON.parse(stdout) as { status: string; output: number };
    assert.equal(out.status, "succeeded");
    assert.equal(out.output, 42);
    // The POST asks the server to answer before fetch would give up on it.
    const post = new URL(seen[0]!.slice("POST ".length), url);
    assert.equal(seen[0]!.split(" ")[0], "POST");
    assert.equal(post.searchParams.get("wait"), "true");
    const waitMs = Number(post.searchParams.get("timeoutMs"));
    assert.ok(waitMs > 0 && waitMs < UNDICI_HEADERS_TIMEOUT_MS, `server-side wait ${waitMs} ms`);
    assert.deepEqual(seen.slice(1), ["GET /v1/tasks/t-1", "GET /v1/tasks/t-1"]);
  } finally {
    server.close();
  }
});

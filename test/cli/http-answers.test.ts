import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const cli = path.resolve("dist/src/cli/main.js");
const example = (f: string) => path.resolve("examples", f);

async function forewarm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A local HTTP server answering every request with `status`, `type` and `body`. */
async function answering(
  status: number,
  type: string,
  body: string,
): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

const submitArgs = (url: string) => [
  "submit",
  "--url",
  url,
  "-u",
  "a",
  "-r",
  "node",
  "--code-file",
  example("hello.mjs"),
];

test("submit and status against a proxy answering 502 with HTML name the URL, the status and the content type", async () => {
  const proxy = await answering(502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>");
  try {
    const submit = await forewarm(submitArgs(proxy.url));
    assert.equal(submit.code, 1);
    assert.equal(
      submit.stderr,
      `forewarm: ${proxy.url}/v1/tasks?wait=true&timeoutMs=240000 answered 502 Bad Gateway (text/html), not JSON\n`,
    );
    assert.doesNotMatch(submit.stderr, /Unexpected token/);
    const status = await forewarm(["status", "--url", proxy.url]);
    assert.equal(status.code, 1);
    assert.match(
      status.stderr,
      /^forewarm: http:\/\/127\.0\.0\.1:\d+\/\S+ answered 502 Bad Gateway \(text\/html\), not JSON\n$/,
    );
    assert.doesNotMatch(status.stderr, /Unexpected token/);
  } finally {
    proxy.close();
  }
});

test("status and submit refuse JSON that is not what forewarm answers, naming the URL", async () => {
  const other = await answering(200, "application/json", JSON.stringify({ hello: "world" }));
  try {
    const status = await forewarm(["status", "--url", other.url]);
    assert.equal(status.code, 1);
    assert.match(
      status.stderr,
      /^forewarm: http:\/\/127\.0\.0\.1:\d+\/\S+ answered JSON that is not a forewarm status \(/,
    );
    assert.doesNotMatch(status.stderr, /Cannot read properties/);
    const submit = await forewarm(submitArgs(other.url));
    assert.equal(submit.code, 1);
    assert.match(
      submit.stderr,
      /answered JSON that is not a forewarm task record \(.*id.*\): \{"hello":"world"\}/,
    );
    assert.equal(submit.stdout, "");
  } finally {
    other.close();
  }
});

describe("status with a --url that is not the server's address", () => {
  let child: ChildProcess;
  let url = "";
  before(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-cli-http-"));
    child = spawn(process.execPath, [cli, "serve", "--port", "0", "--data-dir", dataDir], {
      env: { ...process.env, FOREWARM_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    url = await new Promise<string>((resolve) => {
      let out = "";
      child.stdout?.on("data", (d) => {
        out += String(d);
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    });
  });
  after(async () => {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  });

  test("a task URL as --url: the server's 404 is reported with the URL, not a crash", async () => {
    const base = `${url.replace(/\/$/, "")}/v1/tasks/x`;
    const r = await forewarm(["status", "--url", base]);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /Cannot read properties/);
    assert.match(
      r.stderr,
      /^forewarm: http:\/\/\S+\/v1\/tasks\/x\/\S+ answered 404 Not Found: no route GET \/v1\/tasks\/x\/\S+ \(is --url the server's address, like http:\/\/127\.0\.0\.1:7300\?\)\n$/,
    );
    const ok = await forewarm(["status", "--url", url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /leader=true/);
  });
});

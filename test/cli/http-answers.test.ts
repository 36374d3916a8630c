import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { forewarm, serveCli, submitArgs } from "./cli-process.js";

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
  let served: Awaited<ReturnType<typeof serveCli>>;
  let url = "";
  before(async () => {
    served = await serveCli("fw-cli-http-");
    url = served.url;
  });
  after(async () => {
    await served.stop();
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

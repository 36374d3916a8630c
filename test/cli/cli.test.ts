import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { cli, example, forewarm, serveCli, submitArgs } from "./cli-process.js";

describe("forewarm CLI against a served instance", () => {
  let served: Awaited<ReturnType<typeof serveCli>>;
  let url = "";
  before(async () => {
    served = await serveCli("fw-cli-");
    url = served.url;
  });
  after(async () => {
    await served.stop();
  });

  test("submit runs inline code from a file and prints the result; status shows the environment", async () => {
    const node = await forewarm([
      "submit",
      "--url",
      url,
      "-u",
      "alice",
      "-r",
      "node",
      "--code-file",
      example("hello.mjs"),
      "-i",
      '{"name":"cli"}',
    ]);
    assert.equal(node.code, 0, node.stderr);
    const rec = JSON.parse(node.stdout) as { status: string; output: { greeting: string } };
    assert.equal(rec.status, "succeeded");
    assert.equal(rec.output.greeting, "hello cli");
    const py = await forewarm([
      "submit",
      "--url",
      url,
      "-u",
      "bob",
      "-r",
      "python3",
      "--code-file",
      example("hello.py"),
    ]);
    assert.equal(py.code, 0, py.stderr);
    assert.equal((JSON.parse(py.stdout) as { output: { greeting: string } }).output.greeting, "hello world");
    const status = await forewarm(["status", "--url", url]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /leader=true/);
    assert.match(status.stdout, /alice\s+ready/);
    assert.match(status.stdout, /bob\s+ready/);
  });

  test("an invalid task is refused locally with the field named, exit code 2", async () => {
    const bad = await forewarm([
      "submit",
      "--url",
      url,
      "-u",
      "alice",
      "-r",
      "ruby",
      "--code-file",
      example("hello.mjs"),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid task: runtime/);
    const noServer = await forewarm(["status", "--url", "http://127.0.0.1:1"]);
    assert.notEqual(noServer.code, 0);
    assert.match(noServer.stderr, /cannot reach/);
  });

  test("serve rejects a bad configuration naming the field", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-cfg-"));
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify({ capacity: { memoryMb: "lots" } }));
    const r = await forewarm(["serve", "--config", file, "--port", "0", "--data-dir", dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /capacity\.memoryMb/);
  });
});

test("submit: a --file that is not a JSON object, or resources that are not one, is a usage error naming the field", () => {
  const submit = (args: string[], input?: string) =>
    spawnSync(process.execPath, [cli, "submit", "--url", "http://127.0.0.1:1", ...args], {
      encoding: "utf8",
      input,
    });
  for (const [text, kind] of [
    ["null", "null"],
    ["[1]", "an array"],
    ["5", "a number"],
  ]) {
    const r = submit(["-f", "-", "-u", "a"], text);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(
      r.stderr,
      `forewarm submit: invalid task: (file): stdin must hold a JSON object (the task), not ${kind}\n`,
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-submit-"));
  const file = path.join(dir, "task.json");
  fs.writeFileSync(
    file,
    JSON.stringify({ runtime: "node", code: "export const handler = () => 1", resources: 5 }),
  );
  const r = submit(["-f", file, "-u", "a", "--cpu", "2"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^forewarm submit: invalid task: resources: must be an object .* not a number\n$/);
});

test("submit: an unreachable server is named in the error", () => {
  const r = spawnSync(process.execPath, [cli, ...submitArgs("http://127.0.0.1:1/")], { encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^forewarm: cannot reach http:\/\/127\.0\.0\.1:1: /);
});

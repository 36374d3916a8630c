import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { cli, submitArgs } from "./cli-process.js";

test("submit: number options take plain decimal text only; the message names the option and quotes the value", async () => {
  // A server that records every request: a refused option must not reach it.
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (d) => {
      text += String(d);
    });
    req.on("end", () => {
      bodies.push(JSON.parse(text));
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "t", status: "queued", taskType: "x" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Asynchronous: a spawnSync child would block the loop that serves it.
  const submit = (args: string[]) =>
    new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cli, ...submitArgs(url), "--no-wait", ...args], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += String(d);
      });
      child.on("close", (status) => resolve({ status, stderr }));
    });
  try {
    for (const [args, message] of [
      [["--priority", ""], "--priority '' is empty: expected a whole number"],
      [["--priority", "0x9"], "--priority '0x9' is not a whole number in decimal digits"],
      [["--priority", "1e0"], "--priority '1e0' is not a whole number in decimal digits"],
      [["--timeout-ms", " "], "--timeout-ms ' ' is blank: expected a whole number of ms"],
      [["--memory-mb", "0b1000000"], "--memory-mb '0b1000000' is not a whole number in decimal digits"],
      [["--cpu", "1e-1"], "--cpu '1e-1' is not a plain decimal number"],
    ] as const) {
      const r = await submit([...args]);
      assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.ok(r.stderr.includes(message), `${args.join(" ")}: ${r.stderr}`);
    }
    assert.deepEqual(bodies, [], "no refused value reached the server");
    // Plain decimals still go through as numbers.
    const ok = await submit(["--priority", " 7 ", "--cpu", "0.5", "--timeout-ms", "1500"]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(bodies.length, 1);
    const sent = bodies[0] as unknown as { priority: number; timeoutMs: number; resources: { cpu: number } };
    assert.equal(sent.priority, 7);
    assert.equal(sent.timeoutMs, 1500);
    assert.equal(sent.resources.cpu, 0.5);
  } finally {
    server.close();
  }
});

test("replay and forecast: an empty or non-decimal number option is refused before the trace is read", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-numopt-"));
  const trace = path.join(dir, "t.csv");
  const lines = ["t,u,k"];
  for (let m = 0; m < 30; m++) lines.push(`${m * 60},alice,job`);
  fs.writeFileSync(trace, `${lines.join("\n")}\n`);
  const traceArgs = ["--format", "csv", "--trace", trace, "--map", "time=t,user=u,type=k"];
  const forewarm = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  for (const [args, message] of [
    [
      ["replay", ...traceArgs, "--policies", "fixed:ka=10", "--until-minute", ""],
      "--until-minute '' is empty",
    ],
    [
      ["replay", ...traceArgs, "--policies", "fixed:ka=10", "--until-minute", "0x10"],
      "--until-minute '0x10' is not",
    ],
    [
      ["replay", ...traceArgs, "--policies", "fixed:ka=10", "--score-after-minute", " "],
      "--score-after-minute ' ' is blank",
    ],
    [
      ["replay", ...traceArgs, "--model", "m2", "--policies", "fixed:ka=10", "--cold-start-latency", ""],
      "--cold-start-latency '' is empty",
    ],
    [
      ["forecast", ...traceArgs, "--models", "rate", "--train-until-minute", ""],
      "--train-until-minute '' is empty",
    ],
    [
      ["forecast", ...traceArgs, "--models", "rate", "--train-fraction", "0x0.8"],
      "--train-fraction '0x0.8' is not",
    ],
  ] as const) {
    const r = forewarm([...args]);
    assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.ok(r.stderr.includes(message), `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "", `${args.join(" ")} ran`);
  }
  // The same trace with a plain number replays.
  const ok = forewarm([
    "replay",
    ...traceArgs,
    "--policies",
    "fixed:ka=10",
    "--until-minute",
    "20",
    "--json",
  ]);
  assert.equal(ok.status, 0, ok.stderr);
});

test("replay and forecast refuse a --report they could not write before reading the trace", async () => {
  for (const cmd of ["replay", "forecast"]) {
    const r = spawnSync(
      process.execPath,
      [
        cli,
        cmd,
        "--format",
        "swf",
        "--trace",
        "/nonexistent/trace.swf",
        "--report",
        "/nonexistent-dir/r.html",
      ],
      { encoding: "utf8" },
    );
    assert.notEqual(r.status, 0, cmd);
    assert.match(r.stderr, /--report \/nonexistent-dir\/r\.html: no directory/, `${cmd}: ${r.stderr}`);
  }
});

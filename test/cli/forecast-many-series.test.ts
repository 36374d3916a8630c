import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { busySpan } from "../../src/cli/forecast.js";

const run = promisify(execFile);
const cli = path.resolve("dist/src/cli/main.js");

const SERIES = 200_000;

test("forecast on a trace of 200,000 series does not overflow the call stack", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-many-"));
  const trace = path.join(dir, "many.csv");
  // One arrival per user (200,000 series), plus one busy series that gives the trace two hours.
  const lines = ["t,u,k"];
  for (let i = 0; i < SERIES; i++) lines.push(`${(i % 50) * 60},u${i},job`);
  for (let m = 0; m < 120; m++) lines.push(`${m * 60},busy,job`);
  fs.writeFileSync(trace, `${lines.join("\n")}\n`);
  const { stdout, stderr } = await run(
    process.execPath,
    [
      cli,
      "forecast",
      "--format",
      "csv",
      "--trace",
      trace,
      "--map",
      "time=t,user=u,type=k",
      "--models",
      "rate",
      "--per-class",
      "1",
      "--horizon",
      "5",
      "--origins",
      "1",
      "--json",
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  assert.match(stderr, new RegExp(`trace minutes 0\\.\\.119; first origin 90; ${SERIES + 1} series`));
  assert.ok(JSON.parse(stdout), "JSON results");
});

test("busySpan: first and last busy minute over more series than a spread call can take", () => {
  const n = 500_000;
  const series = Array.from({ length: n }, (_, i) => ({
    firstBusyMinute: 1000 + (i % 977),
    lastBusyMinute: 2000 + (i % 1013),
  }));
  series[123_456] = { firstBusyMinute: -7, lastBusyMinute: 5000 };
  series[400_000] = { firstBusyMinute: 10, lastBusyMinute: 9999 };
  assert.deepEqual(busySpan(series), { first: -7, last: 9999 });
});

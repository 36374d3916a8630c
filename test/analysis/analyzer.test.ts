import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { CodeAnalyzer } from "../../src/analysis/analyzer.js";
import { dependenciesFromImports } from "../../src/analysis/code-analysis.js";
import { JavaScriptAnalyzer } from "../../src/analysis/js-worker-analyzer.js";
import { LruCache } from "../../src/analysis/lru-cache.js";

test("analyzer: both runtimes, cached results are equal copies", async () => {
  const analyzer = new CodeAnalyzer({ cacheSize: 4 });
  try {
    const js = await analyzer.analyze("node", "export const f = (a) => a && 1;");
    assert.equal(js.cyclomatic, 2);
    const again = await analyzer.analyze("node", "export const f = (a) => a && 1;");
    assert.deepEqual(again, js);
    again.imports.push("mutated");
    assert.deepEqual((await analyzer.analyze("node", "export const f = (a) => a && 1;")).imports, []);
    const py = await analyzer.analyze("python3", "f = lambda a: a and 1\n");
    assert.equal(py.cyclomatic, 2);
    assert.equal(py.functionCount, 1);
  } finally {
    await analyzer.close();
  }
});

test("analyzer: a missing python gives a reason, not a rejection", async () => {
  const analyzer = new CodeAnalyzer({ pythonCommand: "/nonexistent/python3" });
  try {
    const a = await analyzer.analyze("python3", "x = 1\n");
    assert.equal(a.linesOfCode, null);
    assert.match(a.analysisError ?? "", /python analyzer (unavailable|exited)/);
  } finally {
    await analyzer.close();
  }
});

test("analyzer: a stuck helper times out and the next request starts a fresh one", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  const script = path.join(dir, "stuck.py");
  fs.writeFileSync(script, "import time\ntime.sleep(60)\n");
  const analyzer = new CodeAnalyzer({ helperPath: script, timeoutMs: 300 });
  try {
    const a = await analyzer.analyze("python3", "x = 1\n");
    assert.match(a.analysisError ?? "", /timed out/);
  } finally {
    await analyzer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("analyzer: a large JS source is parsed off the event loop, and fully", async () => {
  const analyzer = new CodeAnalyzer();
  try {
    await analyzer.warmUp();
    // ~1 MB: seconds of parsing, which held the server's event loop when it ran in-process.
    const big = `export function handler() { return 1; }\n${"if (a) b();\n".repeat(80_000)}`;
    let analysed = false;
    const pending = analyzer.analyze("node", big).then((a) => {
      analysed = true;
      return a;
    });
    // A real I/O round trip needs the event loop to turn while the source is parsed.
    await fs.promises.readFile(new URL(import.meta.url));
    assert.equal(analysed, false, "the analysis finished before any I/O could complete");
    const a = await pending;
    assert.equal(a.analysisError, null);
    assert.equal(a.cyclomatic, 80_001);
    assert.equal(a.linesOfCode, 80_001);
  } finally {
    await analyzer.close();
  }
});

test("analyzer: a stuck JS worker times out as unavailable (not cached); close ends it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  const script = path.join(dir, "stuck-worker.mjs");
  fs.writeFileSync(
    script,
    'import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => { for (;;) {} });\n',
  );
  const analyzer = new CodeAnalyzer({ jsWorkerUrl: pathToFileURL(script), timeoutMs: 300 });
  try {
    const a = await analyzer.analyze("node", "const x = 1;");
    assert.equal(a.linesOfCode, null);
    assert.match(a.analysisError ?? "", /javascript analysis unavailable: timed out after 300 ms/);
    // Not cached: a second request gets a fresh worker (stuck too, so it also times out).
    const again = await analyzer.analyze("node", "const x = 1;");
    assert.match(again.analysisError ?? "", /timed out/);
  } finally {
    await analyzer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("analyzer: oversized source is not parsed", async () => {
  const analyzer = new CodeAnalyzer({ maxSourceBytes: 10 });
  const a = await analyzer.analyze("node", "const x = 12345678;");
  assert.match(a.analysisError ?? "", /larger than 10 bytes/);
  await analyzer.close();
});

test("dependenciesFromImports: packages to pre-load", () => {
  assert.deepEqual(
    dependenciesFromImports("node", [
      "./a.js",
      "/abs/b.js",
      "lodash/fp",
      "@scope/pkg/deep",
      "node:fs",
      "zod",
    ]),
    ["@scope/pkg", "lodash", "node:fs", "zod"],
  );
  assert.deepEqual(dependenciesFromImports("python3", ["numpy", "os"]), ["numpy", "os"]);
});

test("LruCache evicts the least recently used entry", () => {
  const c = new LruCache<string, number>(2);
  c.set("a", 1);
  c.set("b", 2);
  assert.equal(c.get("a"), 1); // a is now most recent
  c.set("c", 3);
  assert.equal(c.get("b"), undefined);
  assert.equal(c.get("a"), 1);
  assert.equal(c.size, 2);
});

test("JS analyzer: queued requests are timed from when the worker reaches them; one that times out fails alone", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  const script = path.join(dir, "slow-worker.mjs");
  // 300 ms a request (a synchronous wait, as a parse is); the source "stuck" never finishes.
  fs.writeFileSync(
    script,
    `import { parentPort } from "node:worker_threads";
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
parentPort.on("message", ({ id, source }) => {
  if (source === "stuck") for (;;) {}
  pause(300);
  parentPort.postMessage({ id, result: { linesOfCode: source.length, cyclomatic: 1, functionCount: 0, halsteadVolume: 0, analysisError: null, imports: [] } });
});
`,
  );
  const analyzer = new JavaScriptAnalyzer({ workerUrl: pathToFileURL(script), timeoutMs: 2_000 });
  try {
    // Eight at once: 2.4 s in all, each well under its 2 s.
    const all = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => analyzer.analyze("x".repeat(i + 1))),
    );
    assert.deepEqual(
      all.map((r) => (r.status === "fulfilled" ? r.value.linesOfCode : String(r.reason))),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    // A stuck one between others: it alone fails; those behind it go to a fresh worker.
    const mixed = await Promise.allSettled(["a", "stuck", "bb", "ccc"].map((s) => analyzer.analyze(s)));
    assert.deepEqual(
      mixed.map((r) => (r.status === "fulfilled" ? r.value.linesOfCode : "failed")),
      [1, "failed", 2, 3],
    );
    const stuck = mixed[1] as PromiseRejectedResult;
    assert.match(String(stuck.reason), /timed out after 2000 ms/);
  } finally {
    await analyzer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

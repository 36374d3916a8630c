import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { AnalysisWorker } from "../../src/analysis/analysis-worker.js";
import { CodeAnalyzer, MAX_IMPORTS } from "../../src/analysis/analyzer.js";
import { dependenciesFromImports } from "../../src/analysis/code-analysis.js";
import { LruCache } from "../../src/analysis/lru-cache.js";
import { codeFingerprint } from "../../src/classify/code-similarity.js";

/** An analyzer whose worker thread never answers (300 ms timeout), in a fresh temp dir. */
function stuckWorkerAnalyzer(): { dir: string; analyzer: CodeAnalyzer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  const script = path.join(dir, "stuck-worker.mjs");
  fs.writeFileSync(
    script,
    'import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => { for (;;) {} });\n',
  );
  return { dir, analyzer: new CodeAnalyzer({ workerUrl: pathToFileURL(script), timeoutMs: 300 }) };
}

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
  const { dir, analyzer } = stuckWorkerAnalyzer();
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

test("analyzer: the classifier's fingerprint is computed off the event loop, equal to the in-process one", async () => {
  const analyzer = new CodeAnalyzer();
  const options = { shingleSize: 4, minShingles: 24, numHashes: 128 };
  try {
    await analyzer.warmUp();
    // ~1 MB of Python: ~0.4 s of tokenising and hashing, which held the event loop in-process.
    const big = `def handler(x):\n${"    y = x + 1  # note\n".repeat(45_000)}    return y\n`;
    let done = false;
    const pending = analyzer.fingerprint("python3", big, options).then((f) => {
      done = true;
      return f;
    });
    await fs.promises.readFile(new URL(import.meta.url));
    assert.equal(done, false, "the fingerprint finished before any I/O could complete");
    const f = await pending;
    assert.equal(f.unavailable, undefined);
    assert.deepEqual({ ...f }, codeFingerprint("python3", big, options));
    const js = "export function handler(a) {\n  return a.map((x) => x * 2).filter(Boolean).length;\n}\n";
    const small = await analyzer.fingerprint("node", js, { ...options, minShingles: 4 });
    assert.ok(small.signature !== null, "long enough for a signature");
    assert.deepEqual({ ...small }, codeFingerprint("node", js, { ...options, minShingles: 4 }));
    // Cached copies: a mutated result does not change the next one.
    small.signature?.fill(0);
    assert.deepEqual(
      (await analyzer.fingerprint("node", js, { ...options, minShingles: 4 })).signature,
      codeFingerprint("node", js, { ...options, minShingles: 4 }).signature,
    );
  } finally {
    await analyzer.close();
  }
});

/**
 * A copy of the analysis worker thread in a temp dir, beside `jsAnalyzer` as its js-analyzer.js and
 * the real code-similarity module; `crashFirst`: the first thread started exits on its first request.
 */
function patchedWorker(jsAnalyzer: string, crashFirst = false): { dir: string; url: URL; asked: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  fs.mkdirSync(path.join(dir, "analysis"));
  fs.mkdirSync(path.join(dir, "classify"));
  const built = new URL("../../src/", import.meta.url);
  const thread = fs.readFileSync(new URL("analysis/analysis-worker-thread.js", built), "utf8");
  const asked = path.join(dir, "asked");
  const crash = crashFirst
    ? `import fs from "node:fs";\nimport { parentPort as p } from "node:worker_threads";\np.on("message", () => { fs.appendFileSync(${JSON.stringify(asked)}, "x"); if (!fs.existsSync(${JSON.stringify(`${asked}.crashed`)})) { fs.writeFileSync(${JSON.stringify(`${asked}.crashed`)}, ""); process.exit(3); } });\n`
    : "";
  fs.writeFileSync(path.join(dir, "analysis", "analysis-worker-thread.js"), crash + thread);
  fs.writeFileSync(path.join(dir, "analysis", "js-analyzer.js"), jsAnalyzer);
  fs.writeFileSync(
    path.join(dir, "classify", "code-similarity.js"),
    `export * from ${JSON.stringify(new URL("classify/code-similarity.js", built).href)};\n`,
  );
  return { dir, url: pathToFileURL(path.join(dir, "analysis", "analysis-worker-thread.js")), asked };
}

test("analyzer: a fingerprint whose worker died is asked of a fresh one; failing again, the code is typed by its exact source", async () => {
  const options = { shingleSize: 4, minShingles: 24, numHashes: 128 };
  // Over the in-process size (16 Ki units): these go to the worker.
  const code = (n: number) =>
    `export function handler(x) {\n${"  x = x * 3 + 1;\n".repeat(n)}  return x;\n}\n`;
  const once = patchedWorker("export {};\n", true);
  const analyzer = new CodeAnalyzer({ workerUrl: once.url, timeoutMs: 10_000 });
  try {
    const a = await analyzer.fingerprint("node", code(2000), options);
    assert.equal(a.unavailable, undefined, "the fresh worker answered");
    assert.deepEqual({ ...a }, codeFingerprint("node", code(2000), options));
  } finally {
    await analyzer.close();
    fs.rmSync(once.dir, { recursive: true, force: true });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  const script = path.join(dir, "crashing-worker.mjs");
  const asked = path.join(dir, "asked");
  fs.writeFileSync(
    script,
    `import fs from "node:fs";\nimport { parentPort } from "node:worker_threads";\nparentPort.on("message", () => { fs.appendFileSync(${JSON.stringify(asked)}, "x"); process.exit(3); });\n`,
  );
  const dying = new CodeAnalyzer({ workerUrl: pathToFileURL(script), timeoutMs: 10_000 });
  try {
    const b = await dying.fingerprint("node", code(2000), options);
    assert.match(b.unavailable ?? "", /code fingerprint unavailable: worker exited \(3\)/);
    assert.equal(b.signature, null);
    // Not cached: asked again (twice each time: once, and once more on a fresh worker).
    await dying.fingerprint("node", code(2000), options);
    assert.equal(fs.readFileSync(asked, "utf8"), "xxxx");
  } finally {
    await dying.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("analyzer: a JS analysis thread whose TypeScript import failed is replaced, not kept failing", async () => {
  // The first import throws; a fresh thread's succeeds (a module map keeps a failed import failed).
  const w = patchedWorker(
    `import fs from "node:fs";
const flag = ${JSON.stringify(path.join(os.tmpdir(), `fw-ts-import-${process.pid}`))};
if (!fs.existsSync(flag)) { fs.writeFileSync(flag, ""); throw new Error("typescript failed to load"); }
export function analyzeJavaScript(source) {
  return { linesOfCode: source.length, cyclomatic: 1, functionCount: 0, halsteadVolume: 0, analysisError: null, imports: [] };
}
`,
  );
  const analyzer = new CodeAnalyzer({ workerUrl: w.url, timeoutMs: 10_000 });
  try {
    const first = await analyzer.analyze("node", "a;");
    assert.match(first.analysisError ?? "", /javascript analysis unavailable: typescript failed to load/);
    const second = await analyzer.analyze("node", "a;");
    assert.equal(second.analysisError, null);
    assert.equal(second.linesOfCode, 2);
  } finally {
    await analyzer.close();
    fs.rmSync(w.dir, { recursive: true, force: true });
    fs.rmSync(path.join(os.tmpdir(), `fw-ts-import-${process.pid}`), { force: true });
  }
});

test("analyzer: code whose fingerprint timed out is typed by its exact source, and not tried again", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-analyze-"));
  const script = path.join(dir, "stuck-noting-worker.mjs");
  const asked = path.join(dir, "asked");
  // Notes each request it gets, then never answers. (The time allowed includes the thread's start:
  // generous, so that a loaded machine does not time it out before it has seen the request.)
  fs.writeFileSync(
    script,
    `import fs from "node:fs";\nimport { parentPort } from "node:worker_threads";\nparentPort.on("message", () => { fs.appendFileSync(${JSON.stringify(asked)}, "x"); for (;;) {} });\n`,
  );
  const analyzer = new CodeAnalyzer({ workerUrl: pathToFileURL(script), timeoutMs: 3000 });
  const options = { shingleSize: 4, minShingles: 24, numHashes: 128 };
  const code = (k: number) => `export const k = ${k};\n${"  x = x * 3 + 1;\n".repeat(2000)}`;
  try {
    const a = await analyzer.fingerprint("node", code(1), options);
    assert.match(a.unavailable ?? "", /code fingerprint unavailable: timed out after 3000 ms/);
    assert.equal(a.signature, null);
    assert.notEqual(a.tokenHash, codeFingerprint("node", code(1), options).tokenHash);
    const b = await analyzer.fingerprint("node", code(2), options);
    assert.notEqual(b.tokenHash, a.tokenHash, "different sources, different types");
    // Cached: the worker is not asked (and stuck) again.
    const hit = await analyzer.fingerprint("node", code(1), options);
    assert.equal(hit.tokenHash, a.tokenHash);
    assert.equal(hit.unavailable, undefined, "said once, not on every cache hit");
    assert.equal(fs.readFileSync(asked, "utf8"), "xx", "two sources, two requests");
  } finally {
    await analyzer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("analyzer: fingerprints do not wait behind long JS parses", async () => {
  const analyzer = new CodeAnalyzer();
  const options = { shingleSize: 4, minShingles: 24, numHashes: 128 };
  try {
    await analyzer.warmUp();
    const order: string[] = [];
    // Four ~1 MB JS sources (seconds of parsing in all), then another tenant's 20 KB Python task.
    const parses = [1, 2, 3, 4].map((k) =>
      analyzer
        .analyze("node", `export const k = ${k};\n${"if (a) b();\n".repeat(80_000)}`)
        .then(() => order.push(`parse ${k}`)),
    );
    const py = `def handler(x):\n${"    x = x * 3 + 1\n".repeat(1200)}    return x\n`;
    const fp = analyzer.fingerprint("python3", py, options).then((f) => {
      order.push("fingerprint");
      return f;
    });
    await Promise.all([...parses, fp]);
    assert.equal(order[0], "fingerprint", `answered in the order ${order.join(", ")}`);
    assert.equal((await fp).unavailable, undefined);
  } finally {
    await analyzer.close();
  }
});

test("analyzer: a fingerprint cut short by close() is not retried on a new thread", async () => {
  const { dir, analyzer } = stuckWorkerAnalyzer();
  const code = `export const k = 1;\n${"  x = x * 3 + 1;\n".repeat(2000)}`;
  try {
    const pending = analyzer.fingerprint("node", code, { shingleSize: 4, minShingles: 24, numHashes: 128 });
    await new Promise((r) => setTimeout(r, 50));
    await analyzer.close();
    // Retried, it would have gone to a fresh (stuck) thread and timed out after 300 ms instead.
    assert.match((await pending).unavailable ?? "", /analyzer closed/);
  } finally {
    await analyzer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("analyzer: at most MAX_IMPORTS imports are kept per analysis", async () => {
  const analyzer = new CodeAnalyzer();
  try {
    const py = Array.from(
      { length: MAX_IMPORTS + 44 },
      (_, i) => `import m${String(i).padStart(4, "0")}\n`,
    ).join("");
    const a = await analyzer.analyze("python3", py);
    assert.equal(a.analysisError, null);
    assert.equal(a.imports.length, MAX_IMPORTS);
    assert.equal(a.imports[0], "m0000");
  } finally {
    await analyzer.close();
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
  const analyzer = new AnalysisWorker({ workerUrl: pathToFileURL(script), timeoutMs: 2_000 });
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

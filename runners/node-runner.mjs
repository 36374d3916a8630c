// Runner for `node` environments of forewarm's process backend.
// Protocol: one JSON request per line on stdin; one JSON response per line on fd 3, so that the
// task's own console output (fd 1 and 2) can never corrupt it. The runner exits when stdin closes,
// which is how it notices that the server died.
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const MAX_ERROR_CHARS = 4000;
const MAX_STACK_LINES = 15;

const out = new net.Socket({ fd: 3, readable: false, writable: true });

function send(message) {
  out.write(`${JSON.stringify(message)}\n`);
}

function describe(err) {
  if (err instanceof Error) {
    const lines = (err.stack ?? `${err.name}: ${err.message}`).split("\n");
    // Frames of the runner itself say nothing about the task.
    const kept = lines.filter((l, i) => i === 0 || !l.includes(SELF)).slice(0, MAX_STACK_LINES);
    return kept.join("\n").slice(0, MAX_ERROR_CHARS);
  }
  try {
    return `thrown non-Error value: ${JSON.stringify(err)}`.slice(0, MAX_ERROR_CHARS);
  } catch {
    return `thrown non-Error value: ${String(err)}`.slice(0, MAX_ERROR_CHARS);
  }
}

function isOutOfMemory(err) {
  return err instanceof RangeError && /allocation failed|out of memory/i.test(err.message);
}

function cpuMsSince(start) {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

async function loadFunction(modulePath, fn) {
  // import() caches by URL, which is exactly the per-path module cache the protocol promises.
  const mod = await import(pathToFileURL(modulePath).href);
  const f = typeof mod[fn] === "function" ? mod[fn] : mod.default?.[fn];
  if (typeof f !== "function") {
    const e = new Error(`module ${modulePath} exports no function named "${fn}"`);
    e.forewarmKind = "nofn";
    throw e;
  }
  return f;
}

// Bare dependencies resolve first beside the tasks (the tenant's own node_modules), then beside the runner.
const TASKS_DIR = process.env.FOREWARM_TASKS_DIR;
const tasksRequire = TASKS_DIR ? createRequire(path.join(TASKS_DIR, "noop.js")) : null;

async function importDependency(dep) {
  if (tasksRequire) {
    let resolved = null;
    try {
      resolved = tasksRequire.resolve(dep);
    } catch {
      // not installed beside the tasks
    }
    if (resolved) return import(path.isAbsolute(resolved) ? pathToFileURL(resolved).href : resolved);
  }
  return import(dep);
}

/** Imports the task module without calling anything: what a shadow's warm-up does. */
async function handleLoad(req) {
  const t0 = performance.now();
  try {
    await import(pathToFileURL(req.modulePath).href);
    send({ id: req.id, ok: true, ms: performance.now() - t0 });
  } catch (err) {
    send({ id: req.id, ok: false, kind: isOutOfMemory(err) ? "oom" : "import", error: describe(err) });
  }
}

async function handleImport(req) {
  const perModule = {};
  const t0 = performance.now();
  for (const dep of req.modules) {
    const t = performance.now();
    try {
      await importDependency(dep);
    } catch (err) {
      send({ id: req.id, ok: false, kind: "import", module: dep, error: describe(err) });
      return;
    }
    perModule[dep] = performance.now() - t;
  }
  send({ id: req.id, ok: true, ms: performance.now() - t0, perModule });
}

async function handleCall(req) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let stage = "import";
  try {
    const f = await loadFunction(req.modulePath, req.fn);
    stage = "call";
    const result = await f(req.input);
    const wallMs = performance.now() - t0;
    const cpuMs = cpuMsSince(cpu0);
    let outputJson;
    try {
      outputJson = JSON.stringify(result === undefined ? null : result);
    } catch (err) {
      send({
        id: req.id,
        ok: false,
        kind: "error",
        error: `output is not JSON-serialisable: ${describe(err)}`,
        wallMs,
        cpuMs,
      });
      return;
    }
    // Spliced in as text so the output is serialised exactly once.
    const head = JSON.stringify({
      id: req.id,
      ok: true,
      wallMs,
      cpuMs,
      outputBytes: Buffer.byteLength(outputJson),
    });
    out.write(`${head.slice(0, -1)},"output":${outputJson}}\n`);
  } catch (err) {
    const kind = isOutOfMemory(err)
      ? "oom"
      : (err?.forewarmKind ?? (stage === "import" ? "import" : "error"));
    send({
      id: req.id,
      ok: false,
      kind,
      error: describe(err),
      wallMs: performance.now() - t0,
      cpuMs: cpuMsSince(cpu0),
    });
  }
}

async function handle(line) {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    send({ type: "protocol-error", error: describe(err) });
    return;
  }
  if (req.op === "import") await handleImport(req);
  else if (req.op === "call") await handleCall(req);
  else if (req.op === "load") await handleLoad(req);
  else send({ id: req.id, ok: false, kind: "error", error: `unknown op ${String(req.op)}` });
}

// Requests are handled strictly one after another, in arrival order.
let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
rl.on("line", (line) => {
  queue = queue.then(() => handle(line));
});
rl.on("close", () => process.exit(0));

send({ type: "ready", pid: process.pid, runtime: "node", version: process.version });

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/**
 * Starts a real Prometheus (the Debian package's binary) on a free 127.0.0.1 port with its own
 * config and TSDB in a temp dir, scraping the given targets every second. Shared by the scrape
 * test and, later, server-level tests that scrape a running forewarm.
 */

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** An instant query through the HTTP API (/api/v1/query). */
  query(expr: string): Promise<PromSample[]>;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  scrapeIntervalSeconds?: number;
  /** Sent as `Authorization: Bearer` with every scrape (a server with API tokens). */
  bearerToken?: string;
  /** The CA that https targets' certificates are checked against (a server with `tls`). */
  caFile?: string;
  /** How long to wait for /-/ready. Default 30 s. */
  readyTimeoutMs?: number;
}

const INSTALL_HINT = "run deploy/install-prometheus.sh (apt-get install --no-install-recommends prometheus)";

/** Fails loudly (never skips) when a binary the deploy tests need is missing. */
export function requireBinary(name: "prometheus" | "promtool"): void {
  const probe = spawnSync(name, ["--version"], { encoding: "utf8" });
  if (probe.error) throw new Error(`${name} not found on PATH (${probe.error.message}): ${INSTALL_HINT}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** "host:port" or a URL such as http://127.0.0.1:7300/metrics; grouped into one job per scheme and path. */
function scrapeConfig(targets: string[], intervalS: number, bearerToken?: string, caFile?: string): string {
  const byPath = new Map<string, string[]>();
  for (const t of targets) {
    const u = new URL(t.includes("://") ? t : `http://${t}/metrics`);
    const p = `${u.protocol.replace(":", "")} ${u.pathname === "/" ? "/metrics" : u.pathname}`;
    byPath.set(p, [...(byPath.get(p) ?? []), u.host]);
  }
  const jobs = [...byPath].map(([schemeAndPath, hosts], i) => {
    const [scheme, metricsPath] = schemeAndPath.split(" ") as [string, string];
    return (
      `  - job_name: forewarm${i === 0 ? "" : `_${i}`}\n    scheme: ${scheme}\n    metrics_path: ${JSON.stringify(metricsPath)}\n` +
      `    static_configs:\n      - targets: ${JSON.stringify(hosts)}\n` +
      (bearerToken === undefined
        ? ""
        : `    authorization:\n      credentials: ${JSON.stringify(bearerToken)}\n`) +
      (caFile === undefined ? "" : `    tls_config:\n      ca_file: ${JSON.stringify(caFile)}\n`)
    );
  });
  return `global:\n  scrape_interval: ${intervalS}s\n  scrape_timeout: ${intervalS}s\nscrape_configs:\n${jobs.join("")}`;
}

async function waitReady(
  url: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs: number,
): Promise<void> {
  const stopAt = Date.now() + timeoutMs;
  while (Date.now() < stopAt) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`,
      );
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`prometheus not ready after ${timeoutMs} ms:\n${log()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export async function startPrometheus(
  targets: string[],
  options: StartPrometheusOptions = {},
): Promise<RunningPrometheus> {
  requireBinary("prometheus");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-prometheus-"));
  const config = path.join(dir, "prometheus.yml");
  fs.writeFileSync(
    config,
    scrapeConfig(targets, options.scrapeIntervalSeconds ?? 1, options.bearerToken, options.caFile),
  );
  let lastError: Error | undefined;
  // The free port can be taken between probing and binding: retry a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(
      "prometheus",
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    try {
      await waitReady(url, child, () => stderr, options.readyTimeoutMs ?? 30_000);
    } catch (err) {
      lastError = err as Error;
      await stopChild(child);
      continue;
    }
    return {
      url,
      async query(expr: string): Promise<PromSample[]> {
        const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
        const body = (await res.json()) as {
          status: string;
          error?: string;
          data?: {
            resultType: string;
            result: { metric: Record<string, string>; value: [number, string] }[];
          };
        };
        if (body.status !== "success" || !body.data) throw new Error(`query ${expr} failed: ${body.error}`);
        if (body.data.resultType !== "vector") throw new Error(`query ${expr}: ${body.data.resultType}`);
        return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
      },
      async stop(): Promise<void> {
        await stopChild(child);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error("prometheus did not start");
}

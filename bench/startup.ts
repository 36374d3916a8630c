/**
 * Cold vs warm start of the process backend, side by side in one run: for each case, N cold starts
 * (create + warm + first run of a trivial task) interleaved with N runs on an already-warm
 * environment, so machine noise hits both alike.
 *
 *   npm run bench:startup            # N = 20
 *   node dist/bench/startup.js 50    # or BENCH_N=50
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Invocation } from "../src/backends/backend.js";
import { ProcessBackend } from "../src/backends/process-backend.js";
import type { EnvironmentSpec, Runtime } from "../src/core/types.js";
import { silentLogger } from "../src/log/logger.js";

interface Case {
  label: string;
  runtime: Runtime;
  dependencies: string[];
  module: string;
}

interface Samples {
  cold: number[];
  warm: number[];
  start: number[];
  imports: number[];
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(2);
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? process.env.BENCH_N ?? 20);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bad N: ${process.argv[2] ?? process.env.BENCH_N}`);
  const dir = mkdtempSync(join(tmpdir(), "forewarm-bench-"));
  const nodeModule = join(dir, "trivial.mjs");
  const pyModule = join(dir, "trivial.py");
  writeFileSync(nodeModule, "export function fn(x) { return { y: x.x + 1 }; }\n");
  writeFileSync(pyModule, "def fn(x):\n    return {'y': x['x'] + 1}\n");
  const cases: Case[] = [
    { label: "node", runtime: "node", dependencies: [], module: nodeModule },
    { label: "python3", runtime: "python3", dependencies: [], module: pyModule },
    {
      label: "python3 +decimal,json",
      runtime: "python3",
      dependencies: ["decimal", "json"],
      module: pyModule,
    },
  ];
  const backend = new ProcessBackend({ logger: silentLogger(), workDir: join(dir, "work") });
  const spec = (c: Case): EnvironmentSpec => ({
    runtime: c.runtime,
    dependencies: c.dependencies,
    resources: { cpu: 1, memoryMb: 256, storageMb: 64, networkMbps: 10 },
  });
  const invocation = (c: Case, i: number): Invocation => ({
    taskId: `bench-${i}`,
    modulePath: c.module,
    fn: "fn",
    input: { x: i },
    timeoutMs: 30_000,
  });
  let seq = 0;
  try {
    const warmEnvs = new Map<Case, string>();
    for (const c of cases) {
      const env = await backend.create(`warm-${c.label}`, "bench", spec(c));
      await backend.warm(env.id, { modulePath: c.module, fn: "fn", input: { x: 0 } });
      warmEnvs.set(c, env.id);
    }
    const samples = new Map<Case, Samples>(
      cases.map((c) => [c, { cold: [], warm: [], start: [], imports: [] }]),
    );
    for (let i = 0; i < n; i++) {
      for (const c of cases) {
        const s = samples.get(c) as Samples;
        const t0 = performance.now();
        const env = await backend.create(`cold-${seq++}`, "bench", spec(c));
        const w = await backend.warm(env.id, {});
        const r = await backend.run(env.id, invocation(c, i));
        s.cold.push(performance.now() - t0);
        s.start.push(w.startMs);
        s.imports.push(w.importMs);
        if (!r.ok) throw new Error(`cold run failed: ${r.error}`);
        await backend.destroy(env.id);

        const t1 = performance.now();
        const rw = await backend.run(warmEnvs.get(c) as string, invocation(c, i));
        s.warm.push(performance.now() - t1);
        if (!rw.ok) throw new Error(`warm run failed: ${rw.error}`);
      }
    }
    const header = [
      "case",
      "cold p50",
      "cold p99",
      "warm p50",
      "warm p99",
      "cold/warm p50",
      "spawn→ready p50",
      "imports p50",
    ];
    const rows = cases.map((c) => {
      const s = samples.get(c) as Samples;
      const coldP50 = percentile(s.cold, 50);
      const warmP50 = percentile(s.warm, 50);
      return [
        c.label,
        fmt(coldP50),
        fmt(percentile(s.cold, 99)),
        fmt(warmP50),
        fmt(percentile(s.warm, 99)),
        `${(coldP50 / warmP50).toFixed(0)}×`,
        fmt(percentile(s.start, 50)),
        fmt(percentile(s.imports, 50)),
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]): string =>
      cells.map((cell, i) => cell.padStart(widths[i] ?? 0)).join("  ");
    console.log(
      `process backend startup, N=${n} per case, times in ms (hard limits: ${backend.hardLimits ? "cgroup v1" : "none, RSS sampling"}; 1 cpu, 256 MiB)`,
    );
    console.log("cold = create + warm + first run of a trivial task; warm = one run on a warm environment");
    console.log(line(header));
    for (const r of rows) console.log(line(r));
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

import type { Command } from "commander";

interface Env {
  id: string;
  user: string;
  state: string;
  shadow: boolean;
  spec: { runtime: string; resources: { memoryMb: number; cpu: number } };
  tasksRun: number;
  hold: { reason: string; until: number } | null;
}
interface Plan {
  enabled: boolean;
  desired: { user: string; taskType: string; rank: number; reason: string }[];
  skipped: { series: string; reason: string }[];
  lastRetrain: { series: number; fitted: number; durationMs: number } | null;
  counters: Record<string, unknown>;
}

const pad = (s: string, n: number) => (s.length >= n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));

/** Renders a running server's state as text: health, pool, plan. */
export function renderStatus(health: Record<string, unknown>, envs: Env[], plan: Plan): string {
  const lines: string[] = [];
  lines.push(
    `server ${health.serverId}  leader=${health.leader}  history=${health.history}  queue=${health.queueLength}  environments=${envs.length}${typeof health.keepAliveMs === "number" ? `  keep-alive=${Math.round(health.keepAliveMs / 1000)} s` : ""}`,
  );
  const c = plan.counters;
  lines.push(
    `tasks: ${c.succeeded} ok, ${c.failed} failed; starts: ${c.coldStarts} cold, ${c.warmStarts} warm (${c.shadowHits} on shadows); wasted ${Math.round(Number(c.wastedMbSeconds))} MB·s`,
  );
  if (plan.lastRetrain) {
    lines.push(
      `models: ${plan.lastRetrain.fitted}/${plan.lastRetrain.series} series fitted in ${plan.lastRetrain.durationMs} ms; prediction ${plan.enabled ? "on" : "off"}`,
    );
  }
  lines.push(
    "",
    `${pad("ENVIRONMENT", 22)}${pad("USER", 14)}${pad("STATE", 10)}${pad("KIND", 8)}${pad("MEM", 7)}${pad("TASKS", 6)}HELD FOR`,
  );
  for (const e of envs) {
    lines.push(
      `${pad(e.id, 22)}${pad(e.user, 14)}${pad(e.state, 10)}${pad(e.shadow ? "shadow" : "task", 8)}${pad(String(e.spec.resources.memoryMb), 7)}${pad(String(e.tasksRun), 6)}${e.hold ? e.hold.reason : "-"}`,
    );
  }
  if (plan.desired.length > 0 || plan.skipped.length > 0) {
    lines.push("", "PLAN");
    for (const d of plan.desired) lines.push(`  want  ${d.user}/${d.taskType} #${d.rank}: ${d.reason}`);
    for (const s of plan.skipped.slice(0, 20))
      lines.push(`  skip  ${s.series.replace("|", "/")}: ${s.reason}`);
    if (plan.skipped.length > 20) lines.push(`  … ${plan.skipped.length - 20} more skipped`);
  }
  return `${lines.join("\n")}\n`;
}

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("Show a running server's health, environments and plan.")
    .option("--url <url>", "server address", process.env.FOREWARM_URL ?? "http://127.0.0.1:7300")
    .option("--json", "print the raw JSON of /healthz, /v1/environments and /v1/plan")
    .action(async (o: { url: string; json?: boolean }) => {
      const base = o.url.replace(/\/$/, "");
      const get = async (p: string) => {
        const res = await fetch(`${base}${p}`).catch((e: unknown) => {
          throw new Error(`cannot reach ${base}: ${e instanceof Error ? e.message : String(e)}`);
        });
        return (await res.json()) as Record<string, unknown>;
      };
      const [health, envs, plan] = await Promise.all([
        get("/healthz"),
        get("/v1/environments"),
        get("/v1/plan"),
      ]);
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ health, environments: envs.environments, plan }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(renderStatus(health, envs.environments as Env[], plan as unknown as Plan));
    });
}

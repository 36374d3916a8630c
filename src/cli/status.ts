import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { Command } from "commander";
import {
  answerJson,
  CA_HELP,
  errorText,
  request,
  type ServerAccess,
  serverAccess,
  statusLine,
  TOKEN_HELP,
} from "./http-answers.js";

/**
 * What `status` reads of each route, as schemas: an answer without these fields is not a forewarm
 * server's (a proxy, a wrong --url), and is reported as such instead of crashing while rendering.
 * Other fields pass through (additional properties allowed).
 */
const EnvSchema = Type.Object({
  id: Type.String(),
  user: Type.String(),
  state: Type.String(),
  shadow: Type.Boolean(),
  spec: Type.Object({
    runtime: Type.String(),
    resources: Type.Object({ memoryMb: Type.Number(), cpu: Type.Number() }),
  }),
  tasksRun: Type.Number(),
  hold: Type.Union([Type.Null(), Type.Object({ reason: Type.String(), until: Type.Number() })]),
});
type Env = Static<typeof EnvSchema>;
const PlanSchema = Type.Object({
  enabled: Type.Boolean(),
  desired: Type.Array(
    Type.Object({ user: Type.String(), taskType: Type.String(), rank: Type.Number(), reason: Type.String() }),
  ),
  skipped: Type.Array(Type.Object({ series: Type.String(), reason: Type.String() })),
  lastRetrain: Type.Union([
    Type.Null(),
    Type.Object({ series: Type.Number(), fitted: Type.Number(), durationMs: Type.Number() }),
  ]),
  counters: Type.Record(Type.String(), Type.Unknown()),
});
type Plan = Static<typeof PlanSchema>;
const ROUTES = {
  "/healthz": Type.Object({ serverId: Type.String(), leader: Type.Boolean() }),
  "/v1/environments": Type.Object({ environments: Type.Array(EnvSchema) }),
  "/v1/plan": PlanSchema,
};

/** GETs one of the status routes: its JSON, checked against what `renderStatus` reads. */
async function getStatusPart(
  base: string,
  route: keyof typeof ROUTES,
  access: ServerAccess,
): Promise<Record<string, unknown>> {
  const url = `${base}${route}`;
  const res = await request(url, base, {}, access);
  const body = await answerJson(url, res);
  // `--url` is the server's address: a path after it (…/v1/tasks/x) puts every route under it.
  const hint =
    new URL(base).pathname.replace(/\/$/, "") === ""
      ? ""
      : " (is --url the server's address, like http://127.0.0.1:7300?)";
  if (!res.ok) throw new Error(`${url} answered ${statusLine(res)}: ${errorText(body)}${hint}`);
  const problem = Value.Errors(ROUTES[route], body).First();
  if (problem)
    throw new Error(
      `${url} answered JSON that is not a forewarm status (${problem.path || "(body)"}: ${problem.message})${hint}`,
    );
  return body as Record<string, unknown>;
}

const pad = (s: string, n: number) => (s.length >= n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));

/** Renders a running server's state as text: health, pool, plan. */
export function renderStatus(health: Record<string, unknown>, envs: Env[], plan: Plan): string {
  const lines: string[] = [];
  lines.push(
    `server ${health.serverId}  leader=${health.leader}  history=${health.history}  queue=${health.queueLength}  environments=${envs.length}${typeof health.keepAliveMs === "number" ? `  keep-alive=${Math.round(health.keepAliveMs / 1000)} s` : ""}`,
  );
  const tls = health.tls as { subject?: unknown; expires?: unknown } | undefined;
  if (tls && typeof tls.subject === "string" && typeof tls.expires === "string") {
    const days = (Date.parse(tls.expires) - Date.now()) / 86_400_000;
    lines.push(
      `tls: ${tls.subject}, expires ${tls.expires} (${days < 0 ? "EXPIRED" : `in ${days < 2 ? `${Math.round(days * 24)} h` : `${Math.floor(days)} days`}`})`,
    );
  }
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
    .option("--token <token>", `operator ${TOKEN_HELP}`)
    .option("--ca <file>", CA_HELP)
    .action(async (o: { url: string; json?: boolean; token?: string; ca?: string }) => {
      const base = o.url.replace(/\/$/, "");
      const access = serverAccess(o.token, o.ca);
      // The plan first: it needs an operator's token, so a missing or lesser one is reported as such
      // (with tokens, /healthz tells others only what a probe needs, which would fail its schema).
      const plan = await getStatusPart(base, "/v1/plan", access);
      const [health, envs] = await Promise.all([
        getStatusPart(base, "/healthz", access),
        getStatusPart(base, "/v1/environments", access),
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

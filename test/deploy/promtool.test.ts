import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ForewarmMetrics } from "../../src/cluster/metrics.js";
import { requireBinary } from "./prometheus-harness.js";

const deploy = path.join(process.cwd(), "deploy");
const prometheusDir = path.join(deploy, "prometheus");

function promtool(...args: string[]): string {
  requireBinary("promtool");
  const run = spawnSync("promtool", args, { cwd: prometheusDir, encoding: "utf8" });
  const output = `${run.stdout}${run.stderr}`;
  assert.equal(run.status, 0, `promtool ${args.join(" ")} failed:\n${output}`);
  return output;
}

/** Series names ForewarmMetrics exports (histograms with their _bucket/_sum/_count series). */
async function exportedNames(defaultMetrics: boolean): Promise<Set<string>> {
  const text = await new ForewarmMetrics({ defaultMetrics }).render();
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === "histogram" || type === "summary") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
    }
  }
  return names;
}

const metricRefs = (expr: string): string[] =>
  [...expr.matchAll(/\bforewarm_[a-zA-Z0-9_]+/g)].map((m) => m[0]);

test("promtool accepts the alerting rules and the example config", () => {
  assert.match(promtool("check", "rules", "alerts.yml"), /SUCCESS/);
  assert.match(promtool("check", "config", "prometheus.yml"), /SUCCESS/);
});

test("promtool rule unit tests pass (cold-start ratio, leader missing, capacity, backlog, lost membership, TLS certificate)", () => {
  const tests = fs.readFileSync(path.join(prometheusDir, "alerts.test.yml"), "utf8");
  for (const alert of [
    "ColdStartRatioHigh",
    "LeaderMissing",
    "CapacityExhausted",
    "QueueBacklog",
    "ServerLostMembership",
    "TlsCertificateExpiring",
    "TlsCertificateRejected",
  ]) {
    assert.match(tests, new RegExp(`alertname: ${alert}\\b`), `no unit test for ${alert}`);
  }
  assert.match(promtool("test", "rules", "alerts.test.yml"), /SUCCESS/);
});

interface DashboardPanel {
  title: string;
  type: string;
  targets?: { expr?: string }[];
}

test("every Grafana panel queries metrics ForewarmMetrics registers, and every metric has a panel", async () => {
  const dashboard = JSON.parse(
    fs.readFileSync(path.join(deploy, "grafana/forewarm-dashboard.json"), "utf8"),
  ) as {
    title: string;
    panels: DashboardPanel[];
  };
  const exported = await exportedNames(true);
  const used = new Set<string>();
  assert.ok(dashboard.panels.length >= 10);
  for (const panel of dashboard.panels) {
    const exprs = (panel.targets ?? []).map((t) => t.expr ?? "");
    assert.ok(exprs.length > 0 && exprs.every((e) => e.length > 0), `panel ${panel.title} has no query`);
    for (const expr of exprs) {
      const refs = metricRefs(expr);
      assert.ok(refs.length > 0, `panel ${panel.title}: ${expr} names no forewarm metric`);
      for (const name of refs) {
        assert.ok(
          exported.has(name),
          `panel ${panel.title} queries ${name}, which ForewarmMetrics does not export`,
        );
        used.add(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
  }
  // The reverse: each forewarm metric (not the process defaults) is on the dashboard.
  for (const name of await exportedNames(false)) {
    if (/_(bucket|sum|count)$/.test(name) && exported.has(name.replace(/_(bucket|sum|count)$/, ""))) continue;
    assert.ok(used.has(name), `metric ${name} has no dashboard panel`);
  }
});

test("the alerting rules only reference metrics ForewarmMetrics exports", async () => {
  const exported = await exportedNames(true);
  const rules = fs.readFileSync(path.join(prometheusDir, "alerts.yml"), "utf8");
  const refs = new Set(metricRefs(rules));
  assert.ok(refs.has("forewarm_leader") && refs.has("forewarm_cold_starts_total"));
  for (const name of refs) assert.ok(exported.has(name), `alerts.yml references unknown metric ${name}`);
});

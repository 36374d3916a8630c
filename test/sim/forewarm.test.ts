import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runM1 } from "../../src/sim/m1.js";
import { parsePolicySpec } from "../../src/sim/policies/registry.js";
import { replayLoaded } from "../../src/sim/run.js";
import type { MinuteTrace } from "../../src/sim/trace.js";
import { loadOnce } from "./traces.js";

interface Logged {
  policy: string;
  minute: number;
  pw: number;
  ka: number;
}

const dir = mkdtempSync(join(tmpdir(), "forewarm-policy-"));
const readLog = (file: string): Logged[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Logged);

for (const [key, T, spec] of [
  ["azure2019", 700, "forewarm"],
  ["google", 5000, "forewarm"],
  // The Google setting of the report: daily bump, heavy pooled priors.
  ["google", 3000, "forewarm:prior=8,cond=0,daily=0.3,groupWeight=16"],
] as const) {
  test(`${spec} has no look-ahead on ${key} (--until-minute ${T}), decisions logged`, async () => {
    const loaded = await loadOnce(key);
    const fullFile = join(dir, `${key}-${T}-full.jsonl`);
    const cutFile = join(dir, `${key}-${T}-cut.jsonl`);
    replayLoaded(loaded, { policies: spec, decisionsFile: fullFile });
    replayLoaded(loaded, { policies: spec, decisionsFile: cutFile, untilMinute: T });
    const full = readLog(fullFile);
    const cut = readLog(cutFile);
    assert.ok(full.every((d) => d.policy === spec));
    assert.ok(cut.length > 100 && full.length > cut.length);
    assert.deepEqual(
      cut,
      full.filter((d) => d.minute <= T),
    );
    assert.ok(
      full.some((d) => d.pw > 0),
      "prewarming happens",
    );
  });
}

test("forewarm's budget calibration is causal too (azure2019, --until-minute 700)", async () => {
  const loaded = await loadOnce("azure2019");
  const fullFile = join(dir, "budget-full.jsonl");
  const cutFile = join(dir, "budget-cut.jsonl");
  replayLoaded(loaded, { policies: "forewarm:budget=60", decisionsFile: fullFile });
  replayLoaded(loaded, { policies: "forewarm:budget=60", decisionsFile: cutFile, untilMinute: 700 });
  assert.deepEqual(
    readLog(cutFile),
    readLog(fullFile).filter((d) => d.minute <= 700),
  );
});

/** Apps as lists of busy minutes (count 1 each), memory weight 1. */
function minuteTrace(apps: number[][]): MinuteTrace {
  const offsets = [0];
  const minutes: number[] = [];
  for (const a of apps) {
    minutes.push(...a);
    offsets.push(minutes.length);
  }
  return {
    appNames: apps.map((_, i) => `app${i}`),
    appMemoryMb: new Float64Array(apps.length).fill(1),
    appOffset: Int32Array.from(offsets),
    busyMinute: Int32Array.from(minutes),
    busyCount: new Float64Array(minutes.length).fill(1),
    invocations: minutes.length,
  };
}

test("on timers, alternating and bursty apps forewarm beats fixed 10-minute keep-alive on both axes", () => {
  const range = (from: number, to: number, step: number) =>
    Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
  const apps = [
    range(0, 1440, 30), // 30-minute timer
    range(7, 1440, 60), // hourly timer
    range(3, 1440, 30).flatMap((m) => [m, m + 2]), // alternating 2 / 28
    range(0, 1440, 120).flatMap((m) => [m, m + 1, m + 2, m + 3]), // bursts every 2 h
  ];
  const trace = minuteTrace(apps);
  const runs = ["fixed:ka=10", "forewarm:price=10"].map((text) => {
    const s = parsePolicySpec(text);
    return { label: s.label, policy: s.definition.create(s.params, { appCount: apps.length }) };
  });
  const [fixed, forewarm] = runM1(trace, runs);
  assert.ok(forewarm!.coldStarts < fixed!.coldStarts, `cold ${forewarm!.coldStarts} vs ${fixed!.coldStarts}`);
  assert.ok(
    forewarm!.wastedMbMin < fixed!.wastedMbMin,
    `waste ${forewarm!.wastedMbMin} vs ${fixed!.wastedMbMin}`,
  );
});

test("loaders expose users (and Azure triggers) and the policy context carries them by app name", async () => {
  const { policyContext } = await import("../../src/sim/run.js");
  const { appMetaOf } = await import("../../src/sim/loaders/meta.js");
  const { cutMinuteTrace } = await import("../../src/sim/trace.js");
  const azure = await loadOnce("azure2019");
  const meta = appMetaOf(azure)!;
  assert.equal(meta.user.length, azure.minutes.appNames.length);
  assert.ok(meta.trigger.every((t) => t !== undefined && t.length > 0));
  const ctx = policyContext(azure, azure.minutes);
  assert.equal(ctx.appMemoryMb, azure.minutes.appMemoryMb);
  assert.ok(ctx.appUser && ctx.appTrigger);
  const google = await loadOnce("google");
  const gctx = policyContext(google, google.minutes);
  assert.equal(gctx.appMemoryMb, undefined, "weight 1 everywhere is no memory");
  // A cut trace renumbers apps; the same app keeps the same user as its neighbours.
  const cut = cutMinuteTrace(google.minutes, 5000);
  const cctx = policyContext(google, cut);
  const userOf = (names: string[], ids: ArrayLike<number>) =>
    new Map(names.map((n, i) => [n, ids[i]!] as const));
  const full = userOf(google.minutes.appNames, gctx.appUser!);
  const part = userOf(cut.appNames, cctx.appUser!);
  const sameUser = (x: string, y: string) => (full.get(x) === full.get(y)) === (part.get(x) === part.get(y));
  const names = cut.appNames.slice(0, 200);
  assert.ok(names.every((x) => names.every((y) => sameUser(x, y))));
});

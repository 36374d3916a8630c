import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadAndReplay, replayLoaded } from "../../src/sim/run.js";
import { AZURE2019, loadOnce } from "./traces.js";

interface Logged {
  policy: string;
  app: string;
  minute: number;
  pw: number;
  ka: number | null;
}

function readLog(file: string): Logged[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Logged);
}

const dir = mkdtempSync(join(tmpdir(), "forewarm-lookahead-"));

/** Decisions up to T must be identical whether or not the replay was cut at T. */
function assertSamePrefix(full: Logged[], cut: Logged[], T: number): void {
  const prefix = full.filter((d) => d.minute <= T);
  assert.ok(cut.length > 100, "the cut replay made decisions");
  assert.ok(full.length > cut.length, "the full replay went past T");
  assert.equal(cut.length, prefix.length);
  assert.deepEqual(cut, prefix);
}

test("hybrid has no look-ahead on azure2019 (same path as the CLI, --until-minute 700)", async () => {
  const load = { format: "azure2019", ...AZURE2019 };
  const fullFile = join(dir, "azure-full.jsonl");
  const cutFile = join(dir, "azure-cut.jsonl");
  await loadAndReplay(load, { policies: "hybrid", decisionsFile: fullFile });
  await loadAndReplay(load, { policies: "hybrid", decisionsFile: cutFile, untilMinute: 700 });
  const full = readLog(fullFile);
  assert.ok(
    full.every((d) => d.policy === "hybrid"),
    "the implicit fixed:ka=10 is not logged",
  );
  assertSamePrefix(full, readLog(cutFile), 700);
  // The histogram and out-of-range branches both occur, so the test covers more than the fallback.
  assert.ok(full.some((d) => d.pw > 0));
});

test("hybrid has no look-ahead on google2011-jobs (--until-minute 5000)", async () => {
  const loaded = await loadOnce("google");
  const fullFile = join(dir, "google-full.jsonl");
  const cutFile = join(dir, "google-cut.jsonl");
  replayLoaded(loaded, { policies: "hybrid", decisionsFile: fullFile });
  replayLoaded(loaded, { policies: "hybrid", decisionsFile: cutFile, untilMinute: 5000 });
  assertSamePrefix(readLog(fullFile), readLog(cutFile), 5000);
});

test("the decision log re-scores: fixed:ka=10 decisions are pw 0, ka 10 at every busy minute", async () => {
  const file = join(dir, "fixed.jsonl");
  const { m1 } = replayLoaded(await loadOnce("azure2019"), {
    policies: "fixed:ka=10,no-unload",
    decisionsFile: file,
  });
  const log = readLog(file);
  const fixed = log.filter((d) => d.policy === "fixed:ka=10");
  assert.equal(fixed.length, log.length / 2);
  assert.ok(fixed.every((d) => d.pw === 0 && d.ka === 10));
  assert.ok(log.filter((d) => d.policy === "no-unload").every((d) => d.ka === null));
  assert.equal(m1!.length, 2);
});

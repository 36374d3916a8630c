import type { GoalStanding } from "./goal.js";
import { percentile, sortedCopy } from "./percentile.js";
import type { AnyM1Policy, Decision } from "./policies/types.js";
import { timeOrder } from "./time-order.js";
import { lastBusyMinute, type MinuteTrace } from "./trace.js";

/** Scores of one policy under model M1 (design.md, "Model M1"). */
export interface M1Score {
  name: string;
  apps: number;
  invocations: number;
  coldStarts: number;
  /** Cold starts − the oracle's (one per app). */
  avoidableColdStarts: number;
  coldPctOverall: number;
  appColdPct: { p50: number; p75: number; p90: number };
  wastedMbMin: number;
  /** Wasted MB·min relative to fixed 10-minute keep-alive = 100; filled in by the runner. */
  wastedNormPct: number;
  /** The run saw the future (oracle, hindsight): a bound to measure against, not a policy. */
  bound: boolean;
  /** Against issue 7's goal (filled in by the runner, which runs hybrid and fixed 10 alongside). */
  goal?: GoalStanding;
  /** Per-app cold % (sorted ascending), for CDFs; not part of the JSON output. */
  appColdPctSorted: Float64Array;
}

export interface M1Run {
  label: string;
  policy: AnyM1Policy;
}

export interface M1Hooks {
  /** Every decision in time order: for the decision log. */
  onDecision?: (run: number, app: number, minute: number, decision: Decision) => void;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Replays all policies side by side in one pass over the busy minutes in global time order. Each
 * policy is told about a busy minute only when the replay reaches it (causality by construction);
 * clairvoyant bounds (the oracle, hindsight) alone also see the future.
 */
export function runM1(trace: MinuteTrace, runs: readonly M1Run[], hooks: M1Hooks = {}): M1Score[] {
  const n = trace.appNames.length;
  const { index, appOf } = timeOrder(trace);
  const minute = trace.busyMinute;
  const count = trace.busyCount;
  const memory = trace.appMemoryMb;
  const end = lastBusyMinute(trace);
  const winStart = runs.map(() => new Float64Array(n));
  const winEnd = runs.map(() => new Float64Array(n));
  const cold = runs.map(() => new Float64Array(n));
  const waste = runs.map(() => 0);
  const total = index.length;
  const progressEvery = 1 << 16;
  for (const run of runs) if (run.policy.kind === "clairvoyant") run.policy.prepare?.(trace);

  for (let k = 0; k < total; k++) {
    const i = index[k]!;
    const a = appOf[i]!;
    const t = minute[i]!;
    const c = count[i]!;
    const first = i === trace.appOffset[a];
    const next = i + 1 < trace.appOffset[a + 1]! ? minute[i + 1]! : null;
    for (let r = 0; r < runs.length; r++) {
      const ws = winStart[r]!;
      const we = winEnd[r]!;
      if (first) cold[r]![a]! += 1;
      else {
        const s = ws[a]!;
        const e = we[a]!;
        if (!(s < t && t <= e)) cold[r]![a]! += 1;
        // Loaded minutes s < m ≤ min(e, t − 1) are idle: the next busy minute is t.
        const idle = Math.min(e, t - 1) - s;
        if (idle > 0) waste[r]! += idle * memory[a]!;
      }
      const policy = runs[r]!.policy;
      const d =
        policy.kind === "clairvoyant"
          ? policy.afterBusyMinute(a, t, c, next)
          : policy.afterBusyMinute(a, t, c);
      checkDecision(runs[r]!.label, d);
      hooks.onDecision?.(r, a, t, d);
      ws[a] = t + d.pw;
      we[a] = t + d.pw + d.ka;
    }
    if (hooks.onProgress && (k + 1) % progressEvery === 0) hooks.onProgress(k + 1, total);
  }
  hooks.onProgress?.(total, total);

  const appInvocations = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    for (let i = trace.appOffset[a]!; i < trace.appOffset[a + 1]!; i++) appInvocations[a]! += count[i]!;
  }
  const activeApps = appInvocations.filter((v) => v > 0).length;
  return runs.map((run, r) => {
    // After an app's last busy minute its window counts up to the end of the trace.
    for (let a = 0; a < n; a++) {
      if (appInvocations[a] === 0) continue;
      const idle = Math.min(winEnd[r]![a]!, end) - winStart[r]![a]!;
      if (idle > 0) waste[r]! += idle * memory[a]!;
    }
    const coldStarts = cold[r]!.reduce((s, v) => s + v, 0);
    const perApp: number[] = [];
    for (let a = 0; a < n; a++)
      if (appInvocations[a]! > 0) perApp.push((100 * cold[r]![a]!) / appInvocations[a]!);
    const sorted = sortedCopy(perApp);
    return {
      name: run.label,
      apps: activeApps,
      invocations: trace.invocations,
      coldStarts,
      avoidableColdStarts: coldStarts - activeApps,
      coldPctOverall: (100 * coldStarts) / trace.invocations,
      appColdPct: { p50: percentile(sorted, 50), p75: percentile(sorted, 75), p90: percentile(sorted, 90) },
      wastedMbMin: waste[r]!,
      wastedNormPct: Number.NaN,
      bound: run.policy.kind === "clairvoyant",
      appColdPctSorted: sorted,
    };
  });
}

function checkDecision(label: string, d: Decision): void {
  const ok =
    Number.isInteger(d.pw) &&
    d.pw >= 0 &&
    (d.ka === Number.POSITIVE_INFINITY || (Number.isInteger(d.ka) && d.ka >= 0));
  if (!ok)
    throw new Error(`policy ${label} returned an invalid decision pw=${d.pw} ka=${d.ka} (whole minutes ≥ 0)`);
}

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
  /** Cold starts − the oracle's (one per app; scored after T: one per app first busy after T). */
  avoidableColdStarts: number;
  coldPctOverall: number;
  appColdPct: { p50: number; p75: number; p90: number };
  wastedMbMin: number;
  /** Wasted MB·min relative to fixed 10-minute keep-alive = 100; filled in by the runner. */
  wastedNormPct: number;
  /** The run saw the future (oracle, hindsight): a bound to measure against, not a policy. */
  bound: boolean;
  /** Set when only minutes after it were scored (M1Options.scoreAfterMinute). */
  scoredAfterMinute?: number;
  /** Against issue 7's goal (filled in by the runner, which runs hybrid and fixed 10 alongside). */
  goal?: GoalStanding;
  /** Per-app cold % (sorted ascending), for CDFs; not part of the JSON output. */
  appColdPctSorted: Float64Array;
}

export interface M1Run {
  label: string;
  policy: AnyM1Policy;
}

export interface M1Options {
  /**
   * Score only what happens after minute T (a held-out test after a warm-up): busy minutes t > T
   * count as cold starts and invocations, loaded idle minutes m > T as waste, and the oracle's cold
   * starts are the apps first busy after T. Policies still see (and learn from) every busy minute.
   */
  scoreAfterMinute?: number;
  /** Every decision in time order: for the decision log. */
  onDecision?: (run: number, app: number, minute: number, decision: Decision) => void;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Replays all policies side by side in one pass over the busy minutes in global time order. Each
 * policy is told about a busy minute only when the replay reaches it (causality by construction);
 * clairvoyant bounds (the oracle, hindsight) alone also see the future.
 */
export function runM1(trace: MinuteTrace, runs: readonly M1Run[], hooks: M1Options = {}): M1Score[] {
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
  // Without a scoring window everything counts (−∞: every minute is after it).
  const after = hooks.scoreAfterMinute ?? Number.NEGATIVE_INFINITY;
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
      if (first) {
        if (t > after) cold[r]![a]! += 1;
      } else {
        const s = ws[a]!;
        const e = we[a]!;
        if (t > after && !(s < t && t <= e)) cold[r]![a]! += 1;
        // Loaded minutes s < m ≤ min(e, t − 1) are idle: the next busy minute is t.
        const idle = Math.min(e, t - 1) - Math.max(s, after);
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

  // Invocations and apps in the scored minutes; an app is new there (the oracle's one cold start) when
  // its first busy minute is in them.
  const appInvocations = new Float64Array(n);
  let invocations = 0;
  let newApps = 0;
  for (let a = 0; a < n; a++) {
    const from = trace.appOffset[a]!;
    const to = trace.appOffset[a + 1]!;
    if (from < to && minute[from]! > after) newApps++;
    for (let i = from; i < to; i++) if (minute[i]! > after) appInvocations[a]! += count[i]!;
    invocations += appInvocations[a]!;
  }
  const activeApps = appInvocations.filter((v) => v > 0).length;
  return runs.map((run, r) => {
    // After an app's last busy minute its window counts up to the end of the trace.
    for (let a = 0; a < n; a++) {
      if (trace.appOffset[a] === trace.appOffset[a + 1]) continue;
      const idle = Math.min(winEnd[r]![a]!, end) - Math.max(winStart[r]![a]!, after);
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
      invocations,
      coldStarts,
      avoidableColdStarts: coldStarts - newApps,
      coldPctOverall: (100 * coldStarts) / invocations,
      appColdPct: { p50: percentile(sorted, 50), p75: percentile(sorted, 75), p90: percentile(sorted, 90) },
      wastedMbMin: waste[r]!,
      wastedNormPct: Number.NaN,
      ...(hooks.scoreAfterMinute === undefined ? {} : { scoredAfterMinute: hooks.scoreAfterMinute }),
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

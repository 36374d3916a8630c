import { type EnvironmentSpec, specKey } from "../core/types.js";
import type { Forecast } from "../forecast/forecaster.js";
import type { PoolSnapshot } from "../pool/environment.js";
import type { SeriesWindow } from "./series-windows.js";
import {
  type DesiredShadow,
  type Plan,
  type PlannerConfig,
  pushRanked,
  type SeriesTemplate,
  type SkippedSeries,
  shareCapacity,
  sizedSpec,
} from "./shadow-planner.js";

export interface WindowPlanInput {
  now: number;
  /** The latest forewarm decision of each series (series-windows.ts). */
  windows: Iterable<SeriesWindow>;
  /**
   * Series busy in the current minute, not decided yet (M1 counts the busy minute as loaded), with
   * the environments each has used in it.
   */
  busyNow: ReadonlyMap<string, number>;
  templates: ReadonlyMap<string, SeriesTemplate>;
  /** Forecasts where there are any: used only to size the environment (resource upper bounds). */
  forecasts: ReadonlyMap<string, Forecast>;
  leadMs: ReadonlyMap<string, number>;
  pool: PoolSnapshot;
  config: PlannerConfig;
}

/**
 * Environments to hold for a recent peak of `peak` tasks running at once: the peak plus ⌊h·√peak⌋
 * (square-root staffing). Without headroom a busy series that grows by one task at once starts a
 * cascade of cold starts: while the first starts, every arrival that finds the rest busy starts one.
 */
export const staffed = (peak: number, c: PlannerConfig): number =>
  Math.min(c.maxPerSeries, peak + Math.floor(c.concurrencyHeadroom * Math.sqrt(peak)));

/**
 * Spec keys by spec object: a plan cycle keys every open window's spec, and formatting the numbers was
 * the cycle's largest cost. Specs are replaced, never changed in place (environment-pool.ts resize).
 */
const keyOfSpec = new WeakMap<EnvironmentSpec, string>();
function keyOf(spec: EnvironmentSpec): string {
  let k = keyOfSpec.get(spec);
  if (k === undefined) {
    k = specKey(spec);
    keyOfSpec.set(spec, k);
  }
  return k;
}

/** The "not yet" reason of a window per lead: a window waits for many cycles, its date is formatted once. */
const notYet = new WeakMap<SeriesWindow, { lead: number; reason: string }>();
function notYetReason(w: SeriesWindow, lead: number): string {
  const had = notYet.get(w);
  if (had && had.lead === lead) return had.reason;
  const reason = `window opens at ${new Date(w.from).toISOString()}; not yet (lead ${Math.round(lead)} ms)`;
  notYet.set(w, { lead, reason });
  return reason;
}

/** Windows are the policy's decisions, not a forecast's: full confidence, model "forewarm". */
const FOREWARM = { confidence: 1, model: "forewarm" };

/**
 * Pure: the shadows the forewarm policy's windows ask for now. A decision after busy minute t keeps
 * the series loaded in minutes t+pw+1 … t+pw+ka (model M1), i.e. [from, until) in time; the plan
 * wants the series' recent concurrency with headroom (`staffed`; M1 has one environment per app, tasks
 * that overlap need more) from `from` − lead (its measured cold start × leadFactor) until `until` +
 * grace. A series busy in the current minute is held through the minute's end (its decision comes
 * when the minute is over) at the larger of its concurrency so far and its open window's, staffed.
 * Environments still running count toward these; the plan is exact (held ones beyond it are
 * released). Capacity is shared as in planShadows: by cold-start seconds avoided per GB·minute.
 */
export function planFromWindows(input: WindowPlanInput): Plan {
  const { now, config: c } = input;
  const skipped: SkippedSeries[] = [];
  const candidates: DesiredShadow[] = [];
  const minuteEnd = (Math.floor(now / 60_000) + 1) * 60_000;
  const minute = Math.floor(now / 60_000);
  // Environments still running tasks stay loaded; per (user, spec) they count against the series
  // busy now first, then those busy in the previous minute (whose tasks may still run) — never twice.
  const running = new Map<string, number>();
  for (const e of input.pool.environments) {
    if (e.state !== "busy") continue;
    const k = `${e.user}\u0000${e.specKey}`;
    running.set(k, (running.get(k) ?? 0) + 1);
  }
  const takeRunning = (user: string, key: string, upTo: number): number => {
    const k = `${user}\u0000${key}`;
    const r = Math.min(running.get(k) ?? 0, upTo);
    if (r > 0) running.set(k, running.get(k)! - r);
    return r;
  };
  const want = (w: SeriesWindow | null, series: string, used: number, busy: boolean): void => {
    // Cheap checks first: most windows of a long-running server are over.
    if (!busy && w !== null && now >= w.until + c.graceMs) {
      if (w.ka === 0 && w.minute >= minute - 1) skipped.push({ series, reason: w.reason });
      return;
    }
    const template = input.templates.get(series);
    if (!template) {
      skipped.push({ series, reason: "no task seen yet to take the environment spec from" });
      return;
    }
    const f = input.forecasts.get(series);
    const spec = f ? sizedSpec(template.spec, f) : template.spec;
    const key = keyOf(spec);
    const lead =
      (input.leadMs.get(key) ?? input.leadMs.get(keyOf(template.spec)) ?? c.defaultLeadMs) * c.leadFactor;
    let from: number;
    let until: number;
    let pHit: number;
    let reason: string;
    let count: number;
    if (busy) {
      // The minute is loaded (M1), and so is the window it falls in: hold the more of the two counts.
      const open = w !== null && w.ka > 0 && now >= w.from - lead && now < w.until + c.graceMs;
      const wanted = staffed(Math.max(used, open ? w.environments : 0), c);
      count = wanted - takeRunning(template.user, key, wanted);
      if (count <= 0) return;
      from = now;
      until = Math.max(minuteEnd, open ? w.until : 0) + c.graceMs;
      pHit = 1;
      reason = "forewarm: busy this minute; its window is decided when the minute is over";
    } else if (w === null) {
      return;
    } else {
      if (w.ka === 0) {
        skipped.push({ series, reason: w.reason });
        return;
      }
      from = w.from - lead;
      until = w.until + c.graceMs;
      pHit = w.pMiss === null ? 0.5 : 1 - w.pMiss;
      reason = w.reason;
      if (now < from) {
        skipped.push({ series, reason: notYetReason(w, lead) });
        return;
      }
      const wanted = staffed(w.environments, c);
      count = wanted - (w.minute >= minute - 1 ? takeRunning(template.user, key, wanted) : 0);
      if (count <= 0) return;
    }
    const span = { series, template, spec, specKey: key, from, until, lead, now };
    pushRanked(candidates, span, FOREWARM, pHit, count, (rank) =>
      count > 1 ? `${reason}; env ${rank}/${count}` : reason,
    );
  };
  // Busy series first (they take the running environments first), each with its window if any.
  const busyWindow = new Map<string, SeriesWindow>();
  const quiet: SeriesWindow[] = [];
  for (const w of input.windows) {
    if (input.busyNow.has(w.series)) busyWindow.set(w.series, w);
    else if (now < w.until + c.graceMs) quiet.push(w);
    else want(w, w.series, w.environments, false);
  }
  for (const [series, used] of input.busyNow) want(busyWindow.get(series) ?? null, series, used, true);
  for (const w of quiet) want(w, w.series, w.environments, false);
  return { now, desired: shareCapacity(candidates, input.pool, c, skipped), skipped, exact: true };
}

import { compareText } from "../core/sorted.js";
import type { EnvironmentSpec } from "../core/types.js";
import { specKey } from "../core/types.js";
import { checkForecast, type Forecast } from "../forecast/forecaster.js";
import { type EnvironmentView, type PoolSnapshot, usedResources } from "../pool/environment.js";
import { atomsFromMinuteProbabilities } from "./idle-distribution.js";
import { chooseWindow } from "./window-policy.js";

export interface PlannerConfig {
  /** `IF Prediction.Confidence > Threshold: CreateShadowEnvironment`. */
  confidenceThreshold: number;
  /** A minute belongs to the prediction window when P(arrival) in it is at least this. */
  minArrivalProbability: number;
  /** Extra time a shadow is kept after its window, ms (covers jitter past the last likely minute). */
  graceMs: number;
  /** Share of the pool's capacity that shadows may hold (real tasks can always evict them). */
  shadowCapacityFraction: number;
  /** Most shadow environments for one series. */
  maxPerSeries: number;
  /**
   * For "forewarm": environments held beyond a series' recent peak of tasks running at once, as
   * ⌊h·√peak⌋ (square-root staffing; at 0.5: none for a peak of 1–3, one for 4–15, two for 16–35,
   * three for 36–63).
   */
  concurrencyHeadroom: number;
  /** Lead time used for a spec whose cold start has not been measured yet, ms. */
  defaultLeadMs: number;
  /** Safety factor on the measured cold-start lead time. */
  leadFactor: number;
  /**
   * How the prediction window is chosen: "threshold" takes the minutes whose arrival probability
   * reaches minArrivalProbability; "cost" minimises expected cost (a cold start against the price of
   * the memory held idle) with the same window policy that replay runs (src/plan/window-policy.ts);
   * "forewarm" is replay's forewarm policy itself (series-windows.ts, planned by window-planner.ts).
   */
  windowPolicy: "threshold" | "cost" | "forewarm";
  /** For "cost": price of holding 1 GB idle for a minute, in cold starts. */
  pricePerGbMinute: number;
}

export const PLANNER_DEFAULTS: PlannerConfig = {
  confidenceThreshold: 0.4,
  minArrivalProbability: 0.05,
  graceMs: 60_000,
  shadowCapacityFraction: 0.8,
  maxPerSeries: 8,
  concurrencyHeadroom: 0.5,
  defaultLeadMs: 30_000,
  leadFactor: 1.5,
  windowPolicy: "threshold",
  pricePerGbMinute: 0.4,
};

/** What the planner knows about a series besides its forecast: the spec its tasks need. */
export interface SeriesTemplate {
  user: string;
  taskType: string;
  spec: EnvironmentSpec;
}

export interface PlanInput {
  now: number;
  forecasts: readonly Forecast[];
  templates: ReadonlyMap<string, SeriesTemplate>;
  /** Measured cold-start time per spec key, ms. */
  leadMs: ReadonlyMap<string, number>;
  pool: PoolSnapshot;
  config: PlannerConfig;
}

/** One shadow environment the plan wants to exist now. */
export interface DesiredShadow {
  series: string;
  user: string;
  taskType: string;
  spec: EnvironmentSpec;
  specKey: string;
  /** 1 for the first environment of the series, 2 for the second, … */
  rank: number;
  from: number;
  until: number;
  /** Probability that this environment is used in its window. */
  pHit: number;
  /** Cold-start seconds avoided per GB·minute held: how capacity is shared out. */
  benefit: number;
  confidence: number;
  model: string;
  reason: string;
}

export interface SkippedSeries {
  series: string;
  reason: string;
}

export interface Plan {
  now: number;
  desired: DesiredShadow[];
  skipped: SkippedSeries[];
  /**
   * The desired shadows are all the plan holds (the forewarm policy's windows, whose counts change
   * only with its decisions): a held environment no desired shadow takes is released now, not at the
   * end of the window it was held for. Forecast plans leave a hold to its window's end instead.
   */
  exact?: boolean;
}

export const seriesKey = (user: string, taskType: string): string => `${user}|${taskType}`;

/**
 * Pure: (now, forecasts, pool, capacity, configuration) → the shadow environments that should exist
 * now. For each series whose forecast is trusted (confidence above the threshold) it finds the
 * prediction window — the minutes whose arrival probability reaches `minArrivalProbability` — and
 * wants `rank` environments for the expected concurrency from (window start − cold-start lead) until
 * (window end + grace). Capacity is shared by expected benefit; busy environments are never touched.
 */
export function planShadows(input: PlanInput): Plan {
  const { now, config: c, pool } = input;
  const skipped: SkippedSeries[] = [];
  const candidates: DesiredShadow[] = [];
  for (const f of input.forecasts) {
    const series = seriesKey(f.user, f.taskType);
    const invalid = checkForecast(f);
    if (invalid) {
      skipped.push({ series, reason: `forecast invalid: ${invalid}` });
      continue;
    }
    if (!(f.confidence > c.confidenceThreshold)) {
      skipped.push({
        series,
        reason: `confidence ${f.confidence.toFixed(2)} ≤ threshold ${c.confidenceThreshold}`,
      });
      continue;
    }
    const template = input.templates.get(series);
    if (!template) {
      skipped.push({ series, reason: "no task seen yet to take the environment spec from" });
      continue;
    }
    const spec = sizedSpec(template.spec, f);
    const key = specKey(spec);
    // A resized spec has no measurement of its own yet: the template's lead time is the best guess.
    const lead =
      (input.leadMs.get(key) ?? input.leadMs.get(specKey(template.spec)) ?? c.defaultLeadMs) * c.leadFactor;
    const w = windowOf(f, c, spec.resources.memoryMb);
    if (w.first < 0) {
      skipped.push({ series, reason: w.why });
      continue;
    }
    const { first, last } = w;
    let pNone = 1;
    let peak = 0;
    for (let i = first; i <= last; i++) {
      const m = f.minutes[i]!;
      pNone *= 1 - m.pAny;
      peak = Math.max(peak, m.concurrency.upper, 1);
    }
    const startMs = f.minutes[first]!.minute * 60_000;
    const from = startMs - lead;
    const until = (f.minutes[last]!.minute + 1) * 60_000 + c.graceMs;
    if (now < from) {
      skipped.push({
        series,
        reason: `window opens at ${new Date(startMs).toISOString()}; not yet (lead ${Math.round(lead)} ms)`,
      });
      continue;
    }
    if (now > until) continue;
    const pHitAny = 1 - pNone;
    const count = Math.min(c.maxPerSeries, Math.max(1, Math.ceil(peak)));
    const base = { series, template, spec, specKey: key, from, until, lead, now };
    const model = { confidence: f.confidence, model: f.model };
    pushRanked(
      candidates,
      base,
      model,
      pHitAny,
      count,
      (rank) =>
        `${f.model}: P(arrival in ${last - first + 1} min window) = ${pHitAny.toFixed(2)}, ` +
        `confidence ${f.confidence.toFixed(2)}, concurrency ≤ ${Math.ceil(peak)}; env ${rank}/${count}` +
        (w.why ? `; ${w.why}` : ""),
    );
  }
  return { now, desired: shareCapacity(candidates, pool, input.config, skipped), skipped };
}

/** Where and when a series wants its shadows: what every one of its ranks shares. */
export interface ShadowSpan {
  series: string;
  template: SeriesTemplate;
  spec: EnvironmentSpec;
  specKey: string;
  from: number;
  until: number;
  /** Cold-start time the shadow saves, ms. */
  lead: number;
  now: number;
}

/**
 * Adds the `count` environments a series wants over its span: the k-th is used only when concurrency
 * reaches k, so its P(hit) is discounted by rank; benefit = cold-start seconds avoided per GB·minute
 * held, what shareCapacity ranks by. Shared by planShadows and planFromWindows.
 */
export function pushRanked(
  out: DesiredShadow[],
  s: ShadowSpan,
  by: { confidence: number; model: string },
  pHitAny: number,
  count: number,
  reason: (rank: number) => string,
): void {
  const gb = s.spec.resources.memoryMb / 1024;
  const heldMin = Math.max(1, (s.until - s.now) / 60_000);
  for (let rank = 1; rank <= count; rank++) {
    const pHit = rank === 1 ? pHitAny : (pHitAny * (count - rank + 1)) / (count + 1);
    out.push({
      series: s.series,
      user: s.template.user,
      taskType: s.template.taskType,
      spec: s.spec,
      specKey: s.specKey,
      rank,
      from: s.from,
      until: s.until,
      pHit,
      benefit: (pHit * s.lead) / 1000 / (gb * heldMin),
      confidence: by.confidence,
      model: by.model,
      reason: reason(rank),
    });
  }
}

/** Head-room over the forecast's upper peak memory, and the step sizes are rounded up to. */
const MEMORY_HEADROOM = 1.25;
const MEMORY_STEP_MB = 64;

/**
 * The shadow's size: the series' spec, grown to the forecast's upper bound of per-task peak memory
 * (with head-room) when that is larger — never shrunk below what the tasks ask for.
 */
export function sizedSpec(spec: EnvironmentSpec, f: Forecast): EnvironmentSpec {
  const upper = f.resources?.peakMemoryMb.upper ?? 0;
  const wanted = Math.ceil((upper * MEMORY_HEADROOM) / MEMORY_STEP_MB) * MEMORY_STEP_MB;
  if (!(wanted > spec.resources.memoryMb)) return spec;
  return { ...spec, resources: { ...spec.resources, memoryMb: wanted } };
}

/** The prediction window as indices into the forecast's minutes (first < 0: none), and why. */
function windowOf(
  f: Forecast,
  c: PlannerConfig,
  memoryMb: number,
): { first: number; last: number; why: string } {
  if (c.windowPolicy === "cost") {
    // The forecast's first minute is the current one: treat "now" as the boundary just before it.
    const atoms = atomsFromMinuteProbabilities(
      f.minutes.map((m) => m.pAny),
      1,
    );
    const choice = chooseWindow(atoms, 0, {
      price: c.pricePerGbMinute * (memoryMb / 1024),
      maxEnd: f.minutes.length,
    });
    if (choice.ka === 0) return { first: -1, last: -1, why: choice.reason };
    return {
      first: choice.pw,
      last: Math.min(f.minutes.length - 1, choice.pw + choice.ka - 1),
      why: choice.reason,
    };
  }
  // The next arrival's window: the first run of likely minutes (later runs are the arrivals after it,
  // planned again once this one has come).
  let first = -1;
  let last = -1;
  for (let i = 0; i < f.minutes.length; i++) {
    if (f.minutes[i]!.pAny < c.minArrivalProbability) {
      if (first >= 0) break;
      continue;
    }
    if (first < 0) first = i;
    last = i;
  }
  return { first, last, why: first < 0 ? "no minute in the horizon is likely to see an arrival" : "" };
}

/** Admits candidates by descending benefit while the shadow budget (beside busy environments) lasts. */
export function shareCapacity(
  candidates: DesiredShadow[],
  pool: PoolSnapshot,
  c: PlannerConfig,
  skipped: SkippedSeries[],
): DesiredShadow[] {
  const busy = usedResources(pool.environments.filter((e: EnvironmentView) => e.state === "busy"));
  const cap = pool.capacity;
  let cpu = cap.cpu * c.shadowCapacityFraction - busy.cpu;
  let mem = cap.memoryMb * c.shadowCapacityFraction - busy.memoryMb;
  let count = Math.floor(cap.maxEnvironments * c.shadowCapacityFraction) - busy.count;
  candidates.sort((a, b) => b.benefit - a.benefit || a.rank - b.rank || compareText(a.series, b.series));
  const admitted: DesiredShadow[] = [];
  for (const d of candidates) {
    const r = d.spec.resources;
    if (r.cpu <= cpu + 1e-9 && r.memoryMb <= mem + 1e-9 && count >= 1) {
      admitted.push(d);
      cpu -= r.cpu;
      mem -= r.memoryMb;
      count -= 1;
    } else if (d.rank === 1) {
      skipped.push({
        series: d.series,
        reason: `capacity: benefit ${d.benefit.toFixed(3)} below admitted shadows`,
      });
    }
  }
  return admitted;
}

/**
 * The oracle of model M2: a bound, not a policy. As M1's oracle loads each app exactly in its busy
 * minutes, this one has an environment ready exactly at each task's arrival and gone at its end, so
 * nothing is ever idle (no waste). What no clairvoyance can avoid is an app's first arrival — before it
 * nothing says the app exists — and so the tasks arriving at an app's first instant start cold: M1's
 * one cold start per app, with M2's concurrency. Avoidable cold starts in M2 are those above these.
 */
import { peakHeld } from "./env-pool.js";
import { type M2Score, m2Score } from "./m2.js";
import type { EventTrace } from "./trace.js";

export function runM2Oracle(trace: EventTrace, name: string, coldStartSeconds = 0): M2Score {
  const total = trace.app.length;
  const first = new Float64Array(trace.appNames.length).fill(Number.NaN);
  const latency = new Float64Array(total);
  const memEvents: number[] = [];
  let cold = 0;
  for (let i = 0; i < total; i++) {
    const app = trace.app[i]!;
    const t = trace.start[i]!;
    if (Number.isNaN(first[app]!)) first[app] = t;
    if (t === first[app]) {
      cold++;
      latency[i] = coldStartSeconds;
    }
    // The task's environment is held while it starts (cold) and runs: memory, never waste.
    const mb = trace.appMemoryMb[app]!;
    memEvents.push(t, mb, t + latency[i]! + trace.duration[i]!, -mb);
  }
  // One environment per task, made for it just in time.
  const score = m2Score(name, cold, latency, {
    environmentsCreated: total,
    wastedMbS: 0,
    peakMemoryMb: peakHeld(memEvents),
  });
  return { ...score, bound: true };
}

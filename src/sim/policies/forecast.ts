import { ReplayInputError } from "../errors.js";
import type { PolicyDefinition } from "./types.js";

/**
 * The live planner over forecasts — `prediction.windowPolicy: "threshold"` or `"cost"` — in replay.
 * It runs in M2 only (src/sim/m2-planned.ts: every minute the inter-arrival forecaster forecasts each
 * app, the live planner and reconcile decide the shadows, the live router routes): it plans from
 * forecasts of every app every minute, which M1's one-decision-per-busy-minute contract cannot express.
 * Parameters:
 * - cost = 0: threshold windows (minutes whose P(arrival) ≥ the live minArrivalProbability);
 *   cost = 1: expected-cost windows at `price` cold starts per GB·minute held idle (the live
 *   `pricePerGbMinute`, 0.4 as there);
 * - ka: keep-alive in minutes of environments no window holds (the live `keepAliveMs` under forecast windows, 10 min).
 * Replay runs it with forewarm's M2 planner settings (no grace after a window, no per-series cap) and
 * the inter-arrival forecaster, not the live `auto` choice (which backtests every model per series).
 */
export const forecastPolicy: PolicyDefinition = {
  name: "forecast",
  description:
    "M2 only: the live planner over inter-arrival forecasts (cost=0 threshold, cost=1 cost windows)",
  defaults: { cost: 0, price: 0.4, ka: 10 },
  m2Only: true,
  check: (params, label) => {
    if (params.cost !== 0 && params.cost !== 1)
      throw new ReplayInputError(`policy '${label}': cost must be 0 (threshold windows) or 1 (cost windows)`);
  },
  create: () => {
    throw new ReplayInputError("policy 'forecast' runs in M2 only (--model m2)");
  },
};

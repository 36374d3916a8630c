import { ReplayInputError } from "../errors.js";
import type { PolicyDefinition } from "./types.js";

/**
 * The live planner over forecasts — `prediction.windowPolicy: "threshold"` or `"cost"` — in replay.
 * It runs in M2 only (src/sim/m2-planned.ts: every minute the inter-arrival forecaster forecasts each
 * app, the live planner and reconcile decide the shadows, the live router routes): it plans from
 * forecasts of every app every minute, which M1's one-decision-per-busy-minute contract cannot express.
 * Parameters:
 * - price = 0: threshold windows (minutes whose P(arrival) ≥ the live minArrivalProbability);
 *   price > 0: expected-cost windows at `price` cold starts per GB·minute held idle (the live
 *   `pricePerGbMinute`, 0.4 by default there);
 * - ka: keep-alive in minutes of environments no window holds (the live `keepAliveMs` under forecast windows, 10 min).
 */
export const forecastPolicy: PolicyDefinition = {
  name: "forecast",
  description: "M2 only: the live planner over inter-arrival forecasts (price=0 threshold, >0 cost windows)",
  defaults: { price: 0, ka: 10 },
  m2Only: true,
  create: () => {
    throw new ReplayInputError("policy 'forecast' runs in M2 only (--model m2)");
  },
};

import { ReplayInputError } from "../errors.js";
import type { Decision, M1Policy, PolicyDefinition } from "./types.js";

class FixedKeepAlive implements M1Policy {
  readonly kind = "causal";
  private readonly decision: Decision;
  constructor(ka: number) {
    this.decision = Object.freeze({ pw: 0, ka });
  }
  afterBusyMinute(): Decision {
    return this.decision;
  }
}

/** Keep the app loaded for `ka` minutes after each busy minute (10 = AWS Lambda style default). */
export const fixedPolicy: PolicyDefinition = {
  name: "fixed",
  description: "fixed keep-alive of ka minutes after each busy minute",
  defaults: { ka: 10 },
  required: ["ka"],
  check: (params, label, model = "m1") => {
    // M1 windows are whole minutes (m1.ts refuses other decisions, but only once the trace has loaded);
    // M2 keeps an environment ka·60 seconds, so a fraction means something there.
    const ka = params.ka!;
    if (model === "m1" && !Number.isInteger(ka))
      throw new ReplayInputError(
        `policy '${label}': ka must be a whole number of minutes in M1, got ${ka} (M2 takes fractions; no-unload never unloads)`,
      );
  },
  create: (params) => new FixedKeepAlive(params.ka!),
  fixedKeepAlive: (params) => params.ka,
};

/** Never unload: the cold-start floor of reactive policies (only first invocations are cold). */
export const noUnloadPolicy: PolicyDefinition = {
  name: "no-unload",
  description: "never unload an app once loaded",
  defaults: {},
  create: () => new FixedKeepAlive(Number.POSITIVE_INFINITY),
  fixedKeepAlive: () => Number.POSITIVE_INFINITY,
};

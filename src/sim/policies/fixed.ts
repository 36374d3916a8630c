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

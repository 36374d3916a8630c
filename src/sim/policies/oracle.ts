import type { ClairvoyantPolicy, Decision, PolicyDefinition } from "./types.js";

/**
 * Knows the future: loads the app exactly in its next busy minute (pw = gap − 1, ka = 1), so each app
 * has one cold start and no waste. The floor every other policy is measured against.
 */
class Oracle implements ClairvoyantPolicy {
  readonly kind = "clairvoyant";
  afterBusyMinute(_app: number, minute: number, _count: number, next: number | null): Decision {
    return next === null ? { pw: 0, ka: 0 } : { pw: next - minute - 1, ka: 1 };
  }
}

export const oraclePolicy: PolicyDefinition = {
  name: "oracle",
  description: "clairvoyant: loaded exactly in busy minutes (1 cold start per app, no waste)",
  defaults: {},
  create: () => new Oracle(),
};

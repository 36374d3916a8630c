import type { MinuteTrace } from "../trace.js";

/**
 * M1 policy contract. After each busy minute of an app the engine asks the policy where to keep the
 * app loaded next: the minutes m with t + pw < m ≤ t + pw + ka (design.md, M1).
 */
export interface Decision {
  /** Pre-warm: minutes after t before the app is loaded again (0 = stays loaded). */
  pw: number;
  /** Keep-alive: minutes loaded after the pre-warm; Infinity = never unload. */
  ka: number;
}

/**
 * A causal policy. The engine calls `afterBusyMinute` for every busy minute of every app in global
 * time order and gives it nothing about the future, so a policy can only learn from what it has been
 * told so far: look-ahead is impossible by construction.
 */
export interface M1Policy {
  readonly kind: "causal";
  afterBusyMinute(app: number, minute: number, count: number): Decision;
}

/**
 * A bound, not a policy one could run: it sees the future. The oracle uses the app's next busy minute
 * (or null); `prepare`, when present, is given the whole trace before the first minute (the hindsight
 * bound learns every app's gaps from it).
 */
export interface ClairvoyantPolicy {
  readonly kind: "clairvoyant";
  prepare?(trace: MinuteTrace): void;
  afterBusyMinute(app: number, minute: number, count: number, nextBusyMinute: number | null): Decision;
}

export type AnyM1Policy = M1Policy | ClairvoyantPolicy;

/**
 * What a policy may know about the trace before it starts: sizes and static per-app facts, never
 * arrivals. The optional fields are there when the replay knows them.
 */
export interface PolicyContext {
  appCount: number;
  /** Memory of each app in MB (the M1 waste weight). */
  appMemoryMb?: ArrayLike<number>;
  /** Each app's user/owner as a small id (−1 unknown): a key for pooling what apps of a user did. */
  appUser?: ArrayLike<number>;
  /** Each app's trigger (or task kind) as a small id (−1 unknown). */
  appTrigger?: ArrayLike<number>;
}

export type ParamValues = Readonly<Record<string, number>>;

/** A policy by name, with its parameters and defaults; the registry holds these. */
export interface PolicyDefinition {
  readonly name: string;
  readonly description: string;
  readonly defaults: ParamValues;
  /** Parameters that must be given (e.g. `ka` of `fixed`). */
  readonly required?: readonly string[];
  create(params: ParamValues, context: PolicyContext): AnyM1Policy;
  /**
   * Throws a ReplayInputError naming the parameter when `params` are out of range (before loading).
   * `model`: the replay's (M1 decides in whole minutes, M2 in seconds); M1 when not given.
   */
  check?(params: ParamValues, label: string, model?: "m1" | "m2"): void;
  /** The policy exists in M2 only (it plans over events, not per busy minute). */
  readonly m2Only?: boolean;
  /** Fixed keep-alive in minutes when the policy is one (lets M2 run it); undefined otherwise. */
  fixedKeepAlive?(params: ParamValues): number | undefined;
}

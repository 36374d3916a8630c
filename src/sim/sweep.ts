import { ReplayInputError } from "./errors.js";
import { type PolicySpec, parsePolicySpec, specLabel } from "./policies/registry.js";

export interface Sweep {
  param: string;
  values: number[];
}

const MAX_SWEEP_POINTS = 10_000;

/** `PARAM=a..b[:step]` → the values a, a+step, …, ≤ b. */
export function parseSweep(text: string): Sweep {
  const m = /^([A-Za-z][\w]*)=(-?[\d.]+)\.\.(-?[\d.]+)(?::([\d.]+))?$/.exec(text.trim());
  if (!m) throw new ReplayInputError(`--sweep: expected PARAM=a..b[:step], got '${text}'`);
  const [from, to, step] = [Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
  if (![from, to, step].every(Number.isFinite) || step <= 0 || to < from) {
    throw new ReplayInputError(`--sweep: '${text}' needs a ≤ b and step > 0`);
  }
  const count = Math.floor((to - from) / step + 1e-9) + 1;
  if (count > MAX_SWEEP_POINTS)
    throw new ReplayInputError(`--sweep: ${count} points is too many (max ${MAX_SWEEP_POINTS})`);
  // Multiply instead of accumulating so that 0.1 steps do not drift.
  const values = Array.from({ length: count }, (_, i) => Number((from + i * step).toPrecision(12)));
  return { param: m[1]!, values };
}

export interface SweptSpec extends PolicySpec {
  /** Label of the policy the point belongs to (without the swept parameter), for frontier plots. */
  group: string;
  /** The swept value, when the spec is a sweep point. */
  sweepValue?: number;
}

/** Each spec that has the parameter becomes one spec per value; others run once. */
export function expandSweep(specs: readonly PolicySpec[], sweep: Sweep | undefined): SweptSpec[] {
  if (!sweep) return specs.map((s) => ({ ...s, group: s.label }));
  if (!specs.some((s) => sweep.param in s.definition.defaults)) {
    throw new ReplayInputError(`--sweep: no listed policy has a parameter '${sweep.param}'`);
  }
  return specs.flatMap((s): SweptSpec[] => {
    if (!(sweep.param in s.definition.defaults)) return [{ ...s, group: s.label }];
    const given = givenParams(s);
    const rest = { ...given };
    delete rest[sweep.param];
    const group = `${specLabel(s.definition.name, rest)} (${sweep.param} swept)`;
    return sweep.values.map((v) => ({
      ...sweepPoint(s.definition.name, given, sweep.param, v),
      group,
      sweepValue: v,
    }));
  });
}

/**
 * One point of a sweep, parsed as if `--policies` had listed it (`forewarm:price=-2`): every swept
 * value goes through the same parameter checks as a written one, so a sweep cannot run a value
 * `--policies` would refuse (negative, or failing only mid-replay as an invalid decision).
 */
function sweepPoint(name: string, given: Record<string, number>, param: string, value: number): PolicySpec {
  try {
    return parsePolicySpec(specLabel(name, { ...given, [param]: value }));
  } catch (e) {
    if (!(e instanceof ReplayInputError)) throw e;
    throw new ReplayInputError(`--sweep ${param}=${value}: ${e.message}`);
  }
}

/** Parameters the user wrote (those that differ from the defaults or are required). */
function givenParams(spec: PolicySpec): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(spec.params)) {
    if (spec.definition.defaults[k] !== v || spec.definition.required?.includes(k)) out[k] = v;
  }
  return out;
}

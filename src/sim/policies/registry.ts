import { ReplayInputError } from "../errors.js";
import { fixedPolicy, noUnloadPolicy } from "./fixed.js";
import { forecastPolicy } from "./forecast.js";
import { forewarmPolicy } from "./forewarm.js";
import { hindsightPolicy } from "./hindsight.js";
import { hybridPolicy } from "./hybrid.js";
import { oraclePolicy } from "./oracle.js";
import type { ParamValues, PolicyDefinition } from "./types.js";

/**
 * Policies by name. The extension point for policies defined elsewhere (the `forewarm` planner will
 * register itself here with `registerPolicy`), so the replay CLI never lists policies by hand.
 */
const registry = new Map<string, PolicyDefinition>();

export function registerPolicy(definition: PolicyDefinition): void {
  if (registry.has(definition.name)) throw new Error(`policy '${definition.name}' is already registered`);
  registry.set(definition.name, definition);
}

export function policyNames(): string[] {
  return [...registry.keys()];
}

export function getPolicy(name: string): PolicyDefinition {
  const def = registry.get(name);
  if (!def) throw new ReplayInputError(`unknown policy '${name}' (known: ${policyNames().join(", ")})`);
  return def;
}

/** A policy with its parameters, as written on the command line: `name[:k=v,k=v]`. */
export interface PolicySpec {
  /** Display name: the spec as given, normalised (`fixed:ka=10`). */
  label: string;
  definition: PolicyDefinition;
  params: ParamValues;
}

/** `suppliedLater` names parameters another option provides (the swept one), so they may be omitted. */
export function parsePolicySpec(text: string, suppliedLater: readonly string[] = []): PolicySpec {
  const colon = text.indexOf(":");
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const definition = getPolicy(name);
  const given: Record<string, number> = {};
  if (colon >= 0) {
    for (const part of text.slice(colon + 1).split(",")) {
      const [key, value, ...rest] = part.split("=").map((s) => s.trim());
      if (!key || value === undefined || rest.length > 0) {
        throw new ReplayInputError(`policy '${text}': bad parameter '${part}' (expected key=value)`);
      }
      if (!(key in definition.defaults)) {
        const known = Object.keys(definition.defaults).join(", ") || "none";
        throw new ReplayInputError(`policy '${name}': unknown parameter '${key}' (known: ${known})`);
      }
      const v = Number(value);
      if (!Number.isFinite(v) || v < 0) {
        throw new ReplayInputError(
          `policy '${text}': '${key}' must be a non-negative number, got '${value}'`,
        );
      }
      given[key] = v;
    }
  }
  for (const key of definition.required ?? []) {
    if (!(key in given) && !suppliedLater.includes(key))
      throw new ReplayInputError(`policy '${name}' needs ${key}=N (e.g. ${name}:${key}=10)`);
  }
  return { label: specLabel(name, given), definition, params: { ...definition.defaults, ...given } };
}

export function specLabel(name: string, given: ParamValues): string {
  const parts = Object.entries(given).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${name}:${parts.join(",")}` : name;
}

/**
 * Splits `--policies` on commas that start a new policy. `fixed:ka=10,hybrid` → two specs; the comma
 * in `hybrid:range=120,bin=2` stays inside the spec because `bin=2` is a parameter (it has `=`).
 */
export function splitPolicyList(text: string): string[] {
  const out: string[] = [];
  for (const piece of text.split(",")) {
    const t = piece.trim();
    if (t === "") continue;
    if (out.length > 0 && t.includes("=") && !t.includes(":")) out[out.length - 1] += `,${t}`;
    else out.push(t);
  }
  return out;
}

for (const def of [
  fixedPolicy,
  noUnloadPolicy,
  hybridPolicy,
  oraclePolicy,
  hindsightPolicy,
  forewarmPolicy,
  forecastPolicy,
])
  registerPolicy(def);

/**
 * FOREWARM_* environment variables as configuration: their field paths, their deep merge whatever
 * their order, and which variable set a value an error is about.
 */
import { ConfigError } from "./config-error.js";

const camel = (s: string): string =>
  s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * FOREWARM_ variables that are not server configuration: the CLI client's server address, API token and CA file, what a
 * runner is told about its environment, and the test harness's log switch.
 */
const NOT_CONFIG = new Set([
  "FOREWARM_URL",
  "FOREWARM_TOKEN",
  "FOREWARM_CA",
  "FOREWARM_ENV_ID",
  "FOREWARM_SCRATCH_DIR",
  "FOREWARM_TEST_LOG",
]);

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/** A FOREWARM_ variable's field path, camel-cased; refuses a name with an empty level (FOREWARM_, A____B). */
function envPath(name: string): string[] {
  const parts = name.slice("FOREWARM_".length).split("__").map(camel);
  if (parts.some((p) => p === ""))
    throw new ConfigError(
      `${name} (environment)`,
      "names no configuration field: FOREWARM_<FIELD>, with __ between levels (FOREWARM_CAPACITY__MEMORY_MB)",
    );
  return parts;
}

/**
 * The FOREWARM_ variables as one object, and which variable set each path it holds (a variable's own
 * path, dot-joined). Variables merge deeply whatever their order: FOREWARM_CAPACITY='{"cpu":4}' and
 * FOREWARM_CAPACITY__MEMORY_MB=1024 give both fields. Two variables giving the same field, or one a
 * field inside a value the other gives as not an object, are refused naming both.
 */
export function readEnv(
  env: NodeJS.ProcessEnv,
  isTextField: (path: readonly string[]) => boolean,
): { values: Plain; sources: Map<string, string> } {
  const values: Plain = {};
  const sources = new Map<string, string>();
  // Which variable set each path: a value ("leaf") or an object other fields may merge into.
  const claims = new Map<string, { name: string; leaf: boolean }>();
  const put = (path: string[], value: unknown, name: string): void => {
    let node = values;
    for (let i = 0; i < path.length; i++) {
      const at = path.slice(0, i + 1);
      const claim = claims.get(at.join("."));
      const leaf = i === path.length - 1 && !isPlain(value);
      if (claim && (claim.leaf || leaf)) {
        const [scalar, fields] = claim.leaf ? [claim.name, name] : [name, claim.name];
        throw new ConfigError(
          at.join("."),
          claim.leaf && leaf
            ? `given by both ${claim.name} and ${name} (environment); give it in one of them`
            : `${scalar} gives it a value that is not an object while ${fields} sets fields inside it (environment); give it in one of them`,
        );
      }
      if (!claim) claims.set(at.join("."), { name, leaf });
      const p = path[i]!;
      // Defined, not assigned: a JSON key "__proto__" stays a key (validation refuses it).
      if (leaf)
        Object.defineProperty(node, p, { value, enumerable: true, writable: true, configurable: true });
      else {
        if (!Object.hasOwn(node, p))
          Object.defineProperty(node, p, { value: {}, enumerable: true, writable: true, configurable: true });
        node = node[p] as Plain;
      }
    }
    // An object's fields are claimed one by one, so that another variable's fields merge beside them.
    if (isPlain(value)) for (const [k, v] of Object.entries(value)) put([...path, k], v, name);
  };
  // In name order: an error names the same pair of variables whatever the environment's order.
  for (const [k, raw] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!k.startsWith("FOREWARM_") || raw === undefined || NOT_CONFIG.has(k)) continue;
    const parts = envPath(k);
    let value: unknown = raw;
    if (!isTextField(parts)) {
      try {
        value = JSON.parse(raw);
      } catch {
        // a plain string
      }
    }
    sources.set(parts.join("."), k);
    put(parts, value, k);
  }
  return { values, sources };
}

/** Whether `obj` holds a value at `path`. */
function holds(obj: unknown, path: readonly string[]): boolean {
  let node = obj;
  for (const p of path) {
    if (!isPlain(node) || !Object.hasOwn(node, p)) return false;
    node = node[p];
  }
  return true;
}

/**
 * The environment variable that gave the wrong value `err` names, if one did: the most specific
 * variable at or above its field, unless a CLI override replaced that value.
 */
export function envSource(
  err: ConfigError,
  env: { values: Plain; sources: Map<string, string> },
  overrides: Plain,
): string | undefined {
  if (err.source !== undefined || err.field.startsWith("(")) return undefined;
  const path = err.field.split(".");
  if (!holds(env.values, path)) return undefined;
  for (let i = 1; i <= path.length; i++) if (holds(overrides, path.slice(0, i))) return undefined;
  for (let i = path.length; i > 0; i--) {
    const name = env.sources.get(path.slice(0, i).join("."));
    if (name !== undefined) return name;
  }
  return undefined;
}

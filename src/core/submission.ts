import { type Static, Type } from "@sinclair/typebox";
import { RUNTIMES } from "./types.js";

/** A tenant id, task type or token name: letters, digits and . _ @ : / + - (not first), `max` long. */
export const Name = (max: number, description: string) =>
  Type.String({ minLength: 1, maxLength: max, pattern: "^[A-Za-z0-9][A-Za-z0-9._@:/+-]*$", description });

/**
 * What a client submits (HTTP body of POST /v1/tasks, or `forewarm submit`). Unknown fields and
 * mistyped values are rejected rather than coerced: a task that runs with a guessed meaning is worse
 * than a clear 400.
 */
export const TaskSubmissionSchema = Type.Object(
  {
    user: Name(128, "tenant id"),
    type: Type.Optional(Name(200, "task type; derived from runtime and code when absent")),
    runtime: Type.Union(
      RUNTIMES.map((r) => Type.Literal(r)),
      { description: "runner to use: node or python3" },
    ),
    entry: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        // relative path of a module under the tasks directory; traversal is also re-checked on resolve
        pattern: "^(?!/)(?!.*(^|/)\\.\\.(/|$))[A-Za-z0-9._/-]+\\.(mjs|js|py)$",
        description: "module path relative to the tasks directory",
      }),
    ),
    code: Type.Optional(Type.String({ minLength: 1, description: "inline module source" })),
    function: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: "^[A-Za-z_$][A-Za-z0-9_$]*$",
        description: "function to call",
      }),
    ),
    dependencies: Type.Optional(
      Type.Array(
        Type.String({
          minLength: 1,
          maxLength: 214,
          pattern: "^(?!.*\\.\\.)[A-Za-z0-9@_][A-Za-z0-9@._/-]*$",
        }),
        {
          maxItems: 64,
          description: "modules to import during warm-up",
        },
      ),
    ),
    input: Type.Optional(Type.Unknown({ description: "JSON input passed to the function" })),
    priority: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 9, description: "0 lowest … 9 highest; default 5" }),
    ),
    resources: Type.Optional(
      Type.Object(
        {
          cpu: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 256 })),
          memoryMb: Type.Optional(Type.Integer({ minimum: 16, maximum: 1_048_576 })),
          storageMb: Type.Optional(Type.Integer({ minimum: 0 })),
          networkMbps: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export type TaskSubmission = Static<typeof TaskSubmissionSchema>;

/**
 * Deepest nesting of arrays and objects accepted in `input`. Far beyond real payloads, and well under
 * Python's recursion limit (1000), which its json module applies too: the python runner must decode
 * the request and encode an output of the same shape. Unbounded, a deep input overflows the server's
 * own stack when it serialises the input.
 */
export const MAX_INPUT_DEPTH = 256;

/**
 * What is wrong with a task's input that its schema cannot say, in one walk: nested more than `limit`
 * levels of arrays and objects (a scalar is 0, `[]` is 1; the runners could not decode it), or else
 * the path (`input.a.2`) of a number that is not finite (JSON parses 1e400 as Infinity, which
 * JSON.stringify then writes as null: the task would run with a value its client never sent).
 * Iterative, so a deep value cannot overflow the stack while it is walked.
 */
export function inputProblem(
  value: unknown,
  limit: number,
  root: string,
): { kind: "tooDeep" } | { kind: "nonFinite"; path: string } | null {
  // Paths are built only for the number reported: each entry points at its parent.
  type Entry = { v: unknown; depth: number; parent: Entry | null; key: string };
  const pathOf = (e: Entry): string => {
    const keys: string[] = [];
    for (let at: Entry | null = e; at !== null; at = at.parent) keys.push(at.key);
    return keys.reverse().join(".");
  };
  let nonFinite: string | null = null;
  const stack: Entry[] = [{ v: value, depth: 0, parent: null, key: root }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const v = top.v;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) nonFinite ??= pathOf(top);
      continue;
    }
    if (typeof v !== "object" || v === null) continue;
    const depth = top.depth + 1;
    if (depth > limit) return { kind: "tooDeep" };
    for (const [k, child] of Object.entries(v))
      if (
        (typeof child === "number" && !Number.isFinite(child)) ||
        (typeof child === "object" && child !== null)
      )
        stack.push({ v: child, depth, parent: top, key: k });
  }
  return nonFinite === null ? null : { kind: "nonFinite", path: nonFinite };
}

/** A rejected input, naming the field at fault. */
export class ValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

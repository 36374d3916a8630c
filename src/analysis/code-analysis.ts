import type { CodeComplexity } from "../core/types.js";

/**
 * What static analysis reports about one task's code. The numeric fields are null (and
 * `analysisError` says why) when the code does not parse; `imports` is then best-effort.
 *
 * Definitions, identical for JavaScript/TypeScript and Python:
 * - linesOfCode: lines carrying at least one token that is not a comment or whitespace; a
 *   multi-line string or template marks every line it spans (docstrings therefore count).
 * - cyclomatic: McCabe over the whole module, 1 + decision points. JS: if, for, for-in, for-of,
 *   while, do, case (not default), catch, ?:, &&, ||, ?? and the assignments &&=, ||=, ??=.
 *   Python: if/elif, ternary, for, async for, while, except handler, each extra operand of
 *   and/or, each for/if clause of a comprehension, match case except an unguarded `case _`.
 *   Optional chaining, else, finally, default and loop-else are not decision points.
 * - functionCount: JS function declarations/expressions, arrows, methods, constructors and
 *   accessors that have a body; Python def, async def and lambda.
 * - halsteadVolume: N·log2(n) over lexical tokens (comments and layout excluded). Operands:
 *   identifiers, literals (number, string, regex, template parts, JSX text) and
 *   true/false/null/this/super (Python: True/False/None). Operators: every other token —
 *   punctuation (each bracket counts on its own) and keywords. Distinct by token text. 0 when n ≤ 1.
 * - imports: JS module specifiers as written, from static import/export-from, `import x =
 *   require()`, dynamic import() and require() with a string literal. Python: top-level package
 *   names of `import a.b` / `from a.b import c` (relative imports excluded) and
 *   importlib.import_module / __import__ with a string literal. Sorted, de-duplicated.
 */
export interface CodeAnalysis extends CodeComplexity {
  imports: string[];
}

export type AnalysisRuntime = "node" | "python3";

export function failedAnalysis(reason: string, imports: string[] = []): CodeAnalysis {
  return {
    linesOfCode: null,
    cyclomatic: null,
    functionCount: null,
    halsteadVolume: null,
    imports,
    analysisError: reason,
  };
}

/** Halstead volume N·log2(n), rounded so that JS and Python report the same digits. */
export function halsteadVolume(totalTokens: number, distinctTokens: number): number {
  if (distinctTokens <= 1) return 0;
  return Math.round(totalTokens * Math.log2(distinctTokens) * 1e6) / 1e6;
}

/**
 * The packages a warm environment should pre-load for these imports: relative and absolute paths
 * dropped, deep imports cut to their package (`lodash/fp` → `lodash`, `@a/b/c` → `@a/b`),
 * `node:` built-ins kept as written. Python imports are already top-level packages.
 */
export function dependenciesFromImports(runtime: AnalysisRuntime, imports: readonly string[]): string[] {
  const out = new Set<string>();
  for (const spec of imports) {
    if (runtime === "python3") {
      if (spec && !spec.startsWith(".")) out.add(spec);
      continue;
    }
    if (!spec || spec.startsWith(".") || spec.startsWith("/") || /^[a-z]+:\/\//i.test(spec)) continue;
    if (spec.startsWith("node:")) {
      out.add(spec);
      continue;
    }
    const parts = spec.split("/");
    out.add(spec.startsWith("@") && parts.length >= 2 ? `${parts[0]}/${parts[1]}` : (parts[0] ?? spec));
  }
  return [...out].sort();
}

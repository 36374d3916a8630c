import assert from "node:assert/strict";
import { test } from "node:test";
import { analyzeJavaScript } from "../../src/analysis/js-analyzer.js";

// Line numbers in the comments are 1-based lines of the snippet.
const SUM_EVEN = `// Sums the even numbers of a list.
import { readFile } from "node:fs/promises";
const _ = require("lodash");

/* block
   comment */
export function sumEven(xs) {
  let total = 0;
  for (const x of xs) {
    if (x % 2 === 0 && x > 0) total += x;
  }
  return total;
}

export const describe = (n) => (n > 10 ? "big" : "small");

export async function load(path) {
  try {
    const mod = await import("./helpers.js");
    return mod.parse(await readFile(path, "utf8")) ?? null;
  } catch (err) {
    return null;
  }
}
`;

test("js: hand-checked module with imports, loops, ternary, ?? and catch", () => {
  const a = analyzeJavaScript(SUM_EVEN);
  assert.equal(a.analysisError, null);
  // Code lines: 2, 3, 7–13 (7 lines), 15, 17–24 (8 lines) = 2 + 7 + 1 + 8 = 18;
  // lines 1, 5, 6 are comments, 4, 14, 16 blank.
  assert.equal(a.linesOfCode, 18);
  // 1 + for-of + if + && + ?: + ?? + catch = 7.
  assert.equal(a.cyclomatic, 7);
  // sumEven, the arrow bound to describe, load.
  assert.equal(a.functionCount, 3);
  assert.deepEqual(a.imports, ["./helpers.js", "lodash", "node:fs/promises"]);
});

const COUNTER = `class Counter {
  constructor(start) {
    this.n = start || 0;
  }
  get value() {
    return this.n;
  }
  step(kind) {
    switch (kind) {
      case "up":
        this.n++;
        break;
      case "down":
        this.n--;
        break;
      default:
        break;
    }
    while (this.n > 100) this.n -= 100;
    do {
      this.n += 1;
    } while (this.n < 0);
    this.cache ??= {};
  }
}
module.exports = Counter;
`;

test("js: class members, switch with default, while, do-while, ??=", () => {
  const a = analyzeJavaScript(COUNTER);
  assert.equal(a.analysisError, null);
  assert.equal(a.linesOfCode, 26); // 26 lines, none blank or comment
  // 1 + || + case "up" + case "down" (default is not counted) + while + do + ??= = 7.
  assert.equal(a.cyclomatic, 7);
  assert.equal(a.functionCount, 3); // constructor, getter, method
  assert.deepEqual(a.imports, []);
});

test("js: Halstead volume of `const a = b + 1;` is 7·log2 7", () => {
  // Operators const = + ; (4 distinct), operands a b 1 (3 distinct): N = 7, n = 7.
  const a = analyzeJavaScript("const a = b + 1;");
  assert.equal(a.halsteadVolume, Math.round(7 * Math.log2(7) * 1e6) / 1e6);
  // No semicolon and no const: a = b + 1 → N = 5, n = 5, the same as the Python statement.
  assert.equal(analyzeJavaScript("a = b + 1").halsteadVolume, Math.round(5 * Math.log2(5) * 1e6) / 1e6);
});

test("js: multi-line template counts every line it spans; JSDoc is a comment", () => {
  const src = "/**\n * Doc.\n */\nexport const t = `a\nb\nc`;\n";
  const a = analyzeJavaScript(src);
  assert.equal(a.linesOfCode, 3); // lines 4–6
  assert.equal(a.functionCount, 0);
  assert.equal(a.cyclomatic, 1);
});

test("js: TypeScript-only syntax is analysed as TypeScript", () => {
  const a = analyzeJavaScript(
    "export function f(a: number): number { return a > 0 ? a : -a; }\nlet x = <any>f;\n",
  );
  assert.equal(a.analysisError, null);
  assert.equal(a.cyclomatic, 2);
  assert.equal(a.functionCount, 1);
  assert.equal(a.linesOfCode, 2);
});

test("js: unparsable code gives null metrics, the first syntax error and best-effort imports", () => {
  const a = analyzeJavaScript('import z from "zod";\nexport function broken( {\n  return 1;\n');
  assert.equal(a.linesOfCode, null);
  assert.equal(a.cyclomatic, null);
  assert.equal(a.functionCount, null);
  assert.equal(a.halsteadVolume, null);
  assert.match(a.analysisError ?? "", /^line \d+, col \d+: .+/);
  assert.deepEqual(a.imports, ["zod"]);
});

test("js: require and import() with a non-literal argument are not imports", () => {
  const a = analyzeJavaScript(
    'const m = "x"; require(m); import(m); export * from "./re.js"; import e = require("eq");',
  );
  // `import e = require()` is TypeScript, so this parses as TS.
  assert.deepEqual(a.imports, ["./re.js", "eq"]);
});

test("js: empty source", () => {
  const a = analyzeJavaScript("");
  assert.deepEqual(
    { ...a },
    { linesOfCode: 0, cyclomatic: 1, functionCount: 0, halsteadVolume: 0, imports: [], analysisError: null },
  );
});

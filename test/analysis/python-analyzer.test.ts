import assert from "node:assert/strict";
import { after, test } from "node:test";
import { PythonAnalyzer } from "../../src/analysis/python-analyzer.js";

const analyzer = new PythonAnalyzer();
after(() => analyzer.close());

const HANDLER = `"""Module docstring."""
import os, json
import numpy.linalg as la
from collections import defaultdict
from . import sibling
from .pkg import thing

# a comment

def handler(event, context=None):
    items = event.get("items") or []
    total = 0
    for item in items:
        if item > 0 and item % 2 == 0:
            total += item
        elif item < 0:
            total -= 1
    try:
        mod = __import__("yaml")
    except ImportError:
        mod = None
    squares = [x * x for x in items if x]
    label = "big" if total > 10 else "small"
    return {"total": total, "label": label, "f": lambda y: y + 1}
`;

test("python: hand-checked handler", async () => {
  const a = await analyzer.analyze(HANDLER);
  assert.equal(a.analysisError, null);
  // Code lines: 1–6 (docstring counts as code) and 10–24 = 6 + 15 = 21; 7, 9 blank, 8 comment.
  assert.equal(a.linesOfCode, 21);
  // 1 + or + for + if + and + elif + except + comprehension (for, if = 2) + ternary = 10.
  assert.equal(a.cyclomatic, 10);
  assert.equal(a.functionCount, 2); // handler, lambda
  // Relative imports are dropped; __import__ with a literal counts.
  assert.deepEqual(a.imports, ["collections", "json", "numpy", "os", "yaml"]);
});

const SHAPES = `class Shape:
    def __init__(self, kind):
        self.kind = kind

    def area(self, size):
        match self.kind:
            case "square":
                return size * size
            case "circle" if size > 0:
                return 3.14 * size * size
            case _:
                return 0


async def poll(queue):
    while not queue.empty():
        await queue.get()
`;

test("python: match cases (not the wildcard), while, async def", async () => {
  const a = await analyzer.analyze(SHAPES);
  assert.equal(a.analysisError, null);
  assert.equal(a.linesOfCode, 14); // lines 1–3, 5–12, 15–17
  assert.equal(a.cyclomatic, 4); // 1 + case "square" + case "circle" + while
  assert.equal(a.functionCount, 3);
  assert.deepEqual(a.imports, []);
});

test("python: Halstead volume of `a = b + 1` equals the JavaScript one (5·log2 5)", async () => {
  const a = await analyzer.analyze("a = b + 1\n");
  assert.equal(a.halsteadVolume, Math.round(5 * Math.log2(5) * 1e6) / 1e6);
});

test("python: syntax error gives null metrics, the reason and best-effort imports", async () => {
  const a = await analyzer.analyze("import requests\ndef f(:\n    return 1\n");
  assert.equal(a.linesOfCode, null);
  assert.equal(a.cyclomatic, null);
  assert.equal(a.functionCount, null);
  assert.equal(a.halsteadVolume, null);
  assert.match(a.analysisError ?? "", /^line 2: /);
  assert.deepEqual(a.imports, ["requests"]);
});

test("python: concurrent requests on one helper each get their own answer", async () => {
  const sources = Array.from({ length: 30 }, (_, i) => `${"x = 1\n".repeat(i + 1)}`);
  const results = await Promise.all(sources.map((s) => analyzer.analyze(s)));
  assert.deepEqual(
    results.map((r) => r.linesOfCode),
    sources.map((_, i) => i + 1),
  );
});

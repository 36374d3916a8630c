import assert from "node:assert/strict";
import { test } from "node:test";
import { codeTokens, jaccard, shingles } from "../../src/classify/code-similarity.js";
import {
  CLASSIFIER_DEFAULTS,
  type ClassifyFeatures,
  TaskClassifier,
} from "../../src/classify/task-classifier.js";
import {
  editLines,
  mulberry32,
  randomJsLine,
  randomJsProgram,
  randomPythonLine,
  randomPythonProgram,
} from "./seeded.js";

const task = (code: string, extra: Partial<ClassifyFeatures> = {}): ClassifyFeatures => ({
  user: "alice",
  runtime: "node",
  fn: "handler",
  dependencies: [],
  code,
  input: { n: 1 },
  ...extra,
});

const PROGRAM = randomJsProgram(mulberry32(1), 50).join("\n");

test("classifier: the same code gets the same type; ids look like <runtime>:<hash>", () => {
  const c = new TaskClassifier();
  const first = c.classify(task(PROGRAM));
  assert.equal(first.matchedExisting, false);
  assert.match(first.taskType, /^node:[0-9a-f]{16}$/);
  const second = c.classify(task(PROGRAM));
  assert.deepEqual(second, { ...first, matchedExisting: true, similarity: 1 });
  // A fresh classifier (a restart without saved state) derives the same id from the same code.
  assert.equal(new TaskClassifier().classify(task(PROGRAM)).taskType, first.taskType);
});

test("classifier: comments and layout do not matter", () => {
  const c = new TaskClassifier();
  const a = c.classify(task(PROGRAM));
  const reformatted = `// header comment\n${PROGRAM.replaceAll("  ", "    ").replaceAll(";", " ;")}\n/* end */\n`;
  assert.deepEqual(c.classify(task(reformatted)), { ...a, matchedExisting: true, similarity: 1 });
});

test("classifier: edits of 3 lines in a 50-line function stay in the type (both languages)", () => {
  const rand = mulberry32(2);
  for (const [runtime, program, line] of [
    ["node", randomJsProgram, randomJsLine],
    ["python3", randomPythonProgram, randomPythonLine],
  ] as const) {
    for (let trial = 0; trial < 50; trial++) {
      const c = new TaskClassifier();
      const base = program(rand, 50);
      const original = c.classify(task(base.join("\n"), { runtime }));
      const edited = c.classify(task(editLines(rand, base, 3, line).join("\n"), { runtime }));
      assert.equal(
        edited.taskType,
        original.taskType,
        `${runtime} trial ${trial}: similarity ${edited.similarity}`,
      );
      assert.equal(edited.matchedExisting, true);
      assert.ok(edited.similarity >= CLASSIFIER_DEFAULTS.threshold);
    }
  }
});

test("classifier: a chain of small edits stays one type (prototype keeps first and latest code)", () => {
  const rand = mulberry32(3);
  const c = new TaskClassifier();
  let code = randomJsProgram(rand, 50);
  const type = c.classify(task(code.join("\n"))).taskType;
  for (let step = 0; step < 8; step++) {
    code = editLines(rand, code, 3, randomJsLine);
    assert.equal(c.classify(task(code.join("\n"))).taskType, type, `step ${step}`);
  }
});

test("classifier: threshold 0.6 separates 3-line edits from distinct programs with a wide margin", (t) => {
  // Exact Jaccard over 4-token shingles on programs from one grammar (a worst case for
  // distinct programs: same vocabulary, same statement shapes).
  const rand = mulberry32(4);
  let minEdit = 1;
  let maxDistinct = 0;
  for (let i = 0; i < 200; i++) {
    const p = randomJsProgram(rand, 50);
    const sp = shingles(codeTokens("node", p.join("\n")), CLASSIFIER_DEFAULTS.shingleSize);
    const edit = shingles(
      codeTokens("node", editLines(rand, p, 3, randomJsLine).join("\n")),
      CLASSIFIER_DEFAULTS.shingleSize,
    );
    const other = shingles(
      codeTokens("node", randomJsProgram(rand, 50).join("\n")),
      CLASSIFIER_DEFAULTS.shingleSize,
    );
    minEdit = Math.min(minEdit, jaccard(sp, edit));
    maxDistinct = Math.max(maxDistinct, jaccard(sp, other));
  }
  t.diagnostic(
    `3-line edit Jaccard min ${minEdit.toFixed(3)}; distinct programs max ${maxDistinct.toFixed(3)}`,
  );
  // MinHash with 128 hashes has a standard error ≤ 0.044: both margins exceed 4 standard errors.
  assert.ok(minEdit - CLASSIFIER_DEFAULTS.threshold > 4 * 0.044, `edit min ${minEdit}`);
  assert.ok(CLASSIFIER_DEFAULTS.threshold - maxDistinct > 4 * 0.044, `distinct max ${maxDistinct}`);
});

test("classifier: 500 random distinct programs per language never share a type", () => {
  const rand = mulberry32(5);
  for (const [runtime, program] of [
    ["node", randomJsProgram],
    ["python3", randomPythonProgram],
  ] as const) {
    const c = new TaskClassifier();
    const types = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const lines = 5 + Math.floor(rand() * 60);
      const r = c.classify(task(program(rand, lines).join("\n"), { runtime }));
      assert.equal(
        r.matchedExisting,
        false,
        `${runtime} program ${i} matched with similarity ${r.similarity}`,
      );
      types.add(r.taskType);
    }
    assert.equal(types.size, 500);
  }
});

test("classifier: tiny programs only match when identical", () => {
  const c = new TaskClassifier();
  const one = c.classify(task("export const handler = () => 1;"));
  const two = c.classify(task("export const handler = () => 2;"));
  assert.notEqual(one.taskType, two.taskType);
  assert.equal(c.classify(task("export const handler = () =>   1 ; // same")).taskType, one.taskType);
});

test("classifier: runtime, function, dependencies, entry and input kind partition types", () => {
  const c = new TaskClassifier();
  const base = c.classify(task(PROGRAM)).taskType;
  const variants: Partial<ClassifyFeatures>[] = [
    { runtime: "python3" },
    { fn: "other" },
    { dependencies: ["lodash"] },
    { entry: "jobs/a.mjs" },
    { input: [1, 2, 3] },
    { input: "plain text to summarise" },
    {
      input:
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    },
  ];
  const seen = new Set([base]);
  for (const v of variants) {
    const r = c.classify(task(PROGRAM, v));
    assert.equal(r.matchedExisting, false, JSON.stringify(v));
    seen.add(r.taskType);
  }
  assert.equal(seen.size, variants.length + 1);
  // Dependency order and duplicates do not matter.
  const d1 = c.classify(task(PROGRAM, { dependencies: ["b", "a"] })).taskType;
  assert.equal(c.classify(task(PROGRAM, { dependencies: ["a", "b", "a"] })).taskType, d1);
});

test("classifier: data volume within ±8 log2 classes of the first task keeps the type", () => {
  const c = new TaskClassifier();
  const small = c.classify(task(PROGRAM, { inputBytes: 1000 })); // class 10
  assert.equal(c.classify(task(PROGRAM, { inputBytes: 200_000 })).taskType, small.taskType); // class 18
  const huge = c.classify(task(PROGRAM, { inputBytes: 1_000_000 })); // class 20
  assert.notEqual(huge.taskType, small.taskType);
  assert.equal(huge.sizeClass, 20);
  // Class 14 fits both; the closer anchor (10) wins.
  assert.equal(c.classify(task(PROGRAM, { inputBytes: 10_000 })).taskType, small.taskType);
});

test("classifier: prototypes are per user; identical code of two users gets the same id", () => {
  const c = new TaskClassifier();
  const rand = mulberry32(6);
  const base = randomJsProgram(rand, 50);
  const edited = editLines(rand, base, 3, randomJsLine).join("\n");
  const a = c.classify(task(base.join("\n"), { user: "alice" }));
  const b = c.classify(task(base.join("\n"), { user: "bob" }));
  assert.equal(b.taskType, a.taskType);
  assert.equal(b.matchedExisting, false); // bob had no prototype yet
  // carol's first task is the edited version: her type is founded by it.
  const carol = c.classify(task(edited, { user: "carol" }));
  assert.notEqual(carol.taskType, a.taskType);
  assert.equal(c.classify(task(edited, { user: "alice" })).taskType, a.taskType);
});

test("classifier: exported state restores an equal classifier (through JSON)", () => {
  const rand = mulberry32(8);
  const c = new TaskClassifier();
  const programs = Array.from({ length: 20 }, () => randomJsProgram(rand, 40));
  for (const p of programs) c.classify(task(p.join("\n")));
  const restored = TaskClassifier.fromState(JSON.parse(JSON.stringify(c.exportState())));
  assert.equal(restored.prototypeCount, 20);
  for (const p of programs) {
    const edited = editLines(rand, p, 2, randomJsLine).join("\n");
    assert.deepEqual(restored.classify(task(edited)), c.classify(task(edited)));
  }
  assert.throws(() => TaskClassifier.fromState({ ...c.exportState(), version: 2 as 1 }), /version/);
});

test("classifier: least recently used prototypes are evicted; their code keeps its id", () => {
  const c = new TaskClassifier({ maxPrototypesPerUser: 3 });
  const rand = mulberry32(9);
  const programs = Array.from({ length: 4 }, () => randomJsProgram(rand, 30).join("\n"));
  const ids = programs.map((p) => c.classify(task(p)).taskType);
  assert.equal(c.prototypeCount, 3);
  const again = c.classify(task(programs[0] ?? ""));
  assert.equal(again.matchedExisting, false);
  assert.equal(again.taskType, ids[0]);
});

test("code tokens: a string or comment left open ends with its line (or, for templates, comments and triple-quoted strings, the source)", () => {
  assert.deepEqual(codeTokens("node", 'a = "open\nb = `x\ny'), ["a", "=", '"open', "b", "=", "`x\ny"]);
  assert.deepEqual(codeTokens("node", "x /* never closed\nstill comment"), ["x"]);
  assert.deepEqual(codeTokens("node", "s = 'a\\'b' + 'c"), ["s", "=", "'a\\'b'", "+", "'c"]);
  assert.deepEqual(codeTokens("python3", 'x = """doc\nmore\ny = \'z'), ["x", "=", '"""doc\nmore\ny = \'z']);
  assert.deepEqual(codeTokens("python3", "a = 'b\nc"), ["a", "=", "'b", "c"]);
  // Unclosed quotes by the hundred thousand: one pass (each used to rescan the rest of the source).
  const many = codeTokens("node", "`\\".repeat(100_000));
  assert.deepEqual([many.length, many[1]], [2, "\\"], "the template, then the lone backslash at the end");
});

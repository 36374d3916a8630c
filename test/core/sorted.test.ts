import assert from "node:assert/strict";
import { test } from "node:test";
import { stableArgsort } from "../../src/core/sorted.js";
import { mulberry32 } from "../random.js";

const reference = (v: number[]) => Array.from(v.keys()).sort((x, y) => v[x]! - v[y]! || x - y);

test("stableArgsort orders by value, ties in index order, whatever the spread of the values", () => {
  const rnd = mulberry32(11);
  const cases: [string, (n: number) => number[]][] = [
    ["uniform", (n) => Array.from({ length: n }, () => rnd() * 1e6)],
    ["many ties", (n) => Array.from({ length: n }, () => Math.floor(rnd() * 7))],
    // Everything in one bucket but the outlier: the crowded-bucket path.
    ["clustered with an outlier", (n) => [...Array.from({ length: n - 1 }, () => rnd()), 1e12]],
    [
      "Azure-like minutes",
      (n) => Array.from({ length: n }, (_, i) => 60 * ((i * 7919) % 50) + (60 * (i % 5)) / 5),
    ],
    ["negative", (n) => Array.from({ length: n }, () => -rnd() * 100)],
    ["descending", (n) => Array.from({ length: n }, (_, i) => n - i)],
    ["sorted", (n) => Array.from({ length: n }, (_, i) => i / 3)],
    ["all equal", (n) => Array.from({ length: n }, () => 5)],
  ];
  for (const [name, make] of cases)
    for (const n of [0, 1, 2, 65, 1000, 20_000]) {
      if (name === "clustered with an outlier" && n === 0) continue;
      const v = make(n);
      assert.deepEqual(Array.from(stableArgsort(v)), reference(v), `${name}, n = ${n}`);
    }
  // Ranges too narrow (denormals) or too wide (near ±1e308) for a bucket width: sorted by comparison.
  for (const v of [
    [5e-324, 0],
    [1.5e-323, 1e-323, 1.5e-323],
    [-1.6e308, 8e307, 0],
    [1e308, -1e308, 0],
  ])
    assert.deepEqual(Array.from(stableArgsort(v)), reference(v), v.join(", "));
  // Infinite values have no bucket: sorted by comparison.
  assert.deepEqual(
    Array.from(stableArgsort([3, Number.POSITIVE_INFINITY, 1, Number.NEGATIVE_INFINITY, 1])),
    [3, 2, 4, 0, 1],
  );
});

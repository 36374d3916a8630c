/** IntTable against a Map on random keys (small, clustered and large), through several growths. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IntTable } from "../../src/plan/int-table.js";

test("IntTable answers like a Map", () => {
  let seed = 5;
  const r = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const table = new IntTable(4);
  const map = new Map<number, number>();
  const key = () => {
    const u = r();
    if (u < 0.5) return Math.floor(r() * 2000); // dense, like class × apps + app
    if (u < 0.8) return Math.floor(r() * 40) * 18_334 + Math.floor(r() * 50);
    return Math.floor(r() * 2 ** 53);
  };
  for (let step = 0; step < 50_000; step++) {
    const k = key();
    if (r() < 0.4) {
      const v = Math.floor(r() * 2 ** 31);
      table.set(k, v);
      map.set(k, v);
    }
    assert.equal(table.get(k), map.get(k) ?? -1, `step ${step} key ${k}`);
    assert.equal(table.size, map.size);
  }
  for (const [k, v] of map) assert.equal(table.get(k), v);
});

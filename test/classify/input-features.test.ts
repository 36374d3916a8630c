import assert from "node:assert/strict";
import { test } from "node:test";
import { describeInput, looksLikeBase64, sizeClassOf } from "../../src/classify/input-features.js";

test("sizeClassOf: log2 classes", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 1023, 1024, 1 << 20].map(sizeClassOf), [0, 1, 2, 2, 3, 10, 11, 21]);
});

test("describeInput: kinds and JSON size", () => {
  assert.deepEqual(describeInput({ a: 1 }), { kind: "json-object", bytes: 7, sizeClass: 3 });
  assert.equal(describeInput([1]).kind, "json-array");
  assert.equal(describeInput(3.5).kind, "number");
  assert.equal(describeInput(true).kind, "boolean");
  assert.equal(describeInput(null).kind, "null");
  assert.equal(describeInput(undefined).bytes, 4);
  assert.equal(describeInput("hello world, this is text").kind, "text");
  assert.equal(describeInput("SGVsbG8gV29ybGQhIFRoaXMgaXM=").kind, "binary");
  assert.equal(describeInput(new Uint8Array(10)).bytes, 10);
  assert.equal(describeInput({ a: 1 }, 5000).sizeClass, 13);
});

test("looksLikeBase64: long encoded runs and data URLs, not words", () => {
  assert.equal(looksLikeBase64("data:image/png;base64,AAAA"), true);
  assert.equal(looksLikeBase64("abcdefghijklmnop"), false); // one case, no digits
  assert.equal(looksLikeBase64("Short1=="), false);
  assert.equal(looksLikeBase64("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="), true);
});

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ApiTokens } from "../../src/auth/api-tokens.js";
import { tokenHash, writeTokenFile } from "../../src/auth/token-file.js";

test("each time the tokens file goes bad it is reported, and each time it is good again", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-tokens-"));
  const file = path.join(dir, "tokens.json");
  writeTokenFile(file, { tokens: [{ name: "op", role: "operator", sha256: tokenHash("fw_op") }] });
  let now = 0;
  const heard: string[] = [];
  const tokens = new ApiTokens(
    file,
    (c) => heard.push("error" in c ? `error: ${c.error}` : `tokens ${c.tokens}`),
    () => now,
  );
  const look = () => {
    now += 1000;
    return tokens.principalOf("fw_op")?.name;
  };
  assert.equal(look(), "op");
  for (let round = 0; round < 2; round++) {
    fs.chmodSync(file, 0o620);
    assert.equal(look(), "op", "the last good tokens stay in force");
    fs.chmodSync(file, 0o600);
    assert.equal(look(), "op");
  }
  assert.equal(heard.length, 4, heard.join("\n"));
  assert.match(heard[0]!, /^error: .*group or others may write it/);
  assert.equal(heard[1], "tokens 1");
  assert.match(heard[2]!, /^error: .*group or others may write it/);
  assert.equal(heard[3], "tokens 1");
});

/** Small malformed trace files for the loader tests, and the check of the error they give. */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReplayInputError } from "../../src/sim/errors.js";

/** A writer of files in a fresh temporary directory (`prefix`): file(name, text) → its path. */
export function traceFiles(prefix: string): { dir: string; file: (name: string, text: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file: (name, text) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

/** `p` rejects with a ReplayInputError whose message matches `pattern`. */
export async function rejectsWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ReplayInputError, `expected ReplayInputError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

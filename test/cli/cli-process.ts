/** Running the built `forewarm` CLI in tests: as a command, or as a served instance. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const cli = path.resolve("dist/src/cli/main.js");
export const example = (f: string) => path.resolve("examples", f);

/** Runs `forewarm <args>` to its end (with `env` added to the environment): its exit code and output. */
export async function forewarm(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** `forewarm submit` of examples/hello.mjs as user a to `url`, before any further arguments. */
export const submitArgs = (url: string): string[] => [
  "submit",
  "--url",
  url,
  "-u",
  "a",
  "-r",
  "node",
  "--code-file",
  example("hello.mjs"),
];

/** `forewarm serve` on a free port with a fresh data dir, once it listens: its URL and a stop. */
export async function serveCli(prefix: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const child: ChildProcess = spawn(process.execPath, [cli, "serve", "--port", "0", "--data-dir", dataDir], {
    env: { ...process.env, FOREWARM_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

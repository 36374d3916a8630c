import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export const CLI = path.resolve("dist/src/cli/main.js");

export interface ServedProcess {
  child: ChildProcess;
  url: string;
}

/** Starts `forewarm serve` as a real child process and resolves with its URL once it listens. */
export function serveProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServedProcess> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--data-dir", dataDir], {
    env: { ...process.env, FOREWARM_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
}

/** Sends a signal and waits for the process to exit (no-op if it already has). */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill(signal);
  return exited;
}

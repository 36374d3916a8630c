import { closeSync, openSync, writeSync } from "node:fs";
import type { Decision } from "./policies/types.js";

/**
 * JSON lines `{"policy","app","minute","pw","ka"}` so an independent scorer can re-score a run.
 * `ka` is null for "never unload"; `"bound":true` marks a run that saw the future (oracle, hindsight),
 * whose decisions may change when the trace is cut. Buffered writes: a Google replay makes ~10⁶ lines.
 */
export class DecisionLog {
  private readonly fd: number;
  private buffer: string[] = [];
  private size = 0;

  constructor(file: string) {
    this.fd = openSync(file, "w");
  }

  write(policy: string, app: string, minute: number, d: Decision, bound = false): void {
    const ka = Number.isFinite(d.ka) ? d.ka : null;
    const line = `{"policy":${JSON.stringify(policy)},"app":${JSON.stringify(app)},"minute":${minute},"pw":${d.pw},"ka":${ka}${bound ? ',"bound":true' : ""}}\n`;
    this.buffer.push(line);
    this.size += line.length;
    if (this.size > 1 << 20) this.flush();
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    writeSync(this.fd, this.buffer.join(""));
    this.buffer = [];
    this.size = 0;
  }
}

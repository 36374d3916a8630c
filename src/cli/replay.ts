import type { Command } from "commander";

/** `forewarm replay`: owned by the sim module (issue 4). */
export function registerReplay(program: Command): void {
  program.command("replay").description("Replay a trace in virtual time beside the standard baselines.");
}

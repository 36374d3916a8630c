#!/usr/bin/env node
import { Command } from "commander";
import { registerForecast } from "./forecast.js";
import { registerReplay } from "./replay.js";
import { registerServe } from "./serve.js";
import { registerStatus } from "./status.js";
import { registerSubmit } from "./submit.js";
import { registerToken } from "./token.js";

const program = new Command();
program
  .name("forewarm")
  .description(
    "Predictive warm-pool orchestrator: forecasts tasks and prepares warm environments ahead of them.",
  )
  .version("0.1.0")
  .showHelpAfterError();

registerServe(program);
registerSubmit(program);
registerStatus(program);
registerReplay(program);
registerForecast(program);
registerToken(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`forewarm: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

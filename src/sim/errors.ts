/**
 * Bad input to a replay: the CLI prints `message` alone and exits 1. Messages that concern a place in
 * a file read `file:line: what`, so the user can open the line directly.
 */
export class ReplayInputError extends Error {
  override readonly name = "ReplayInputError";
}

export function lineError(file: string, line: number, message: string): ReplayInputError {
  return new ReplayInputError(`${file}:${line}: ${message}`);
}

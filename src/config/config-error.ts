/** A configuration value refused, naming its field (and where it came from, if not the file). */
export class ConfigError extends Error {
  /**
   * `source` says where a wrong value came from when that is not the file, e.g. the environment
   * variable that set it: "config capacity.cpu (FOREWARM_CAPACITY__CPU, environment): …".
   */
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly source?: string,
  ) {
    super(`config ${field}${source === undefined ? "" : ` (${source})`}: ${reason}`);
  }
}

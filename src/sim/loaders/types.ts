import type { LoadedTrace } from "../trace.js";

export type TimeFormat = "iso" | "s" | "ms" | "us";
export const TIME_FORMATS: readonly TimeFormat[] = ["iso", "s", "ms", "us"];

/** Everything a loader may need, as given on the command line. */
export interface LoadOptions {
  format: string;
  /** The trace file for every format except azure2019. */
  trace?: string;
  /** azure2019 only. */
  invocations?: string;
  memory?: string;
  durations?: string;
  /** csv only: `time=COL,user=COL,type=COL[,duration=COL][,memory=COL]`. */
  map?: string;
  timeFormat?: TimeFormat;
  skipBad?: boolean;
  /** Build M2 invocations too (costs memory; M1 needs only minute counts). */
  wantEvents?: boolean;
}

export type Loader = (options: LoadOptions) => Promise<LoadedTrace>;

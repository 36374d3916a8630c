import type { SeriesHistory } from "./forecaster.js";

/**
 * Cheap shape classes that decide which models are worth fitting:
 * - new: too little history to learn from (few busy minutes);
 * - dense: busy in most minutes (average inter-demand interval ≤ 2, Syntetos–Boylan's "smooth/erratic");
 * - periodic: sparse, but most gaps between busy minutes are one value ±1 minute (timers, cron);
 * - intermittent: everything else — sparse and irregular, the common case.
 */
export type SeriesShape = "new" | "dense" | "periodic" | "intermittent";
export const SHAPES: readonly SeriesShape[] = ["dense", "periodic", "intermittent", "new"];

export interface ShapeFeatures {
  length: number;
  busyMinutes: number;
  busyFraction: number;
  /** Most common gap between busy minutes, and the share of gaps within ±1 minute of it. */
  dominantGap: number;
  dominantGapShare: number;
}

export interface ShapeOptions {
  minBusyMinutes: number;
  denseBusyFraction: number;
  periodicGapShare: number;
}

export const SHAPE_DEFAULTS: ShapeOptions = {
  minBusyMinutes: 5,
  denseBusyFraction: 0.5,
  periodicGapShare: 0.6,
};

export function shapeFeatures(h: SeriesHistory): ShapeFeatures {
  const n = h.arrivals.length;
  const gapCounts = new Map<number, number>();
  let busy = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!(h.arrivals[i]! > 0)) continue;
    busy++;
    if (last >= 0) gapCounts.set(i - last, (gapCounts.get(i - last) ?? 0) + 1);
    last = i;
  }
  let dominantGap = 0;
  let best = 0;
  for (const [g, c] of gapCounts) {
    const near = c + (gapCounts.get(g - 1) ?? 0) + (gapCounts.get(g + 1) ?? 0);
    if (near > best || (near === best && g < dominantGap)) {
      best = near;
      dominantGap = g;
    }
  }
  const gaps = Math.max(0, busy - 1);
  return {
    length: n,
    busyMinutes: busy,
    busyFraction: n > 0 ? busy / n : 0,
    dominantGap,
    dominantGapShare: gaps > 0 ? best / gaps : 0,
  };
}

export function classifyFeatures(f: ShapeFeatures, o: ShapeOptions = SHAPE_DEFAULTS): SeriesShape {
  if (f.busyMinutes < o.minBusyMinutes) return "new";
  if (f.busyFraction >= o.denseBusyFraction) return "dense";
  if (f.dominantGapShare >= o.periodicGapShare && f.dominantGap > 1) return "periodic";
  return "intermittent";
}

export function classifySeries(h: SeriesHistory, o: ShapeOptions = SHAPE_DEFAULTS): SeriesShape {
  return classifyFeatures(shapeFeatures(h), o);
}

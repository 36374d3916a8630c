import type { MinuteTrace } from "./trace.js";

/** Busy minutes of all apps in global time order (minute, then app number), as CSR indices. */
export interface TimeOrder {
  /** CSR index (into busyMinute/busyCount) of the k-th busy minute in time order. */
  index: Int32Array;
  /** App of each CSR index. */
  appOf: Int32Array;
}

const cache = new WeakMap<MinuteTrace, TimeOrder>();

export function timeOrder(trace: MinuteTrace): TimeOrder {
  const hit = cache.get(trace);
  if (hit) return hit;
  const n = trace.appNames.length;
  const total = trace.busyMinute.length;
  const appOf = new Int32Array(total);
  const keys = new Float64Array(total);
  for (let a = 0; a < n; a++) {
    for (let i = trace.appOffset[a]!; i < trace.appOffset[a + 1]!; i++) {
      appOf[i] = a;
      keys[i] = trace.busyMinute[i]! * n + a;
    }
  }
  keys.sort();
  // Each app's minutes are sorted, so the k-th key of app a is that app's k-th CSR entry.
  const cursor = Int32Array.from(trace.appOffset.subarray(0, n));
  const index = new Int32Array(total);
  for (let k = 0; k < total; k++) {
    const key = keys[k]!;
    const a = key - Math.floor(key / n) * n;
    index[k] = cursor[a]!;
    cursor[a]! += 1;
  }
  const order = { index, appOf };
  cache.set(trace, order);
  return order;
}

/**
 * Next-idle-time forecast for the hybrid policy's out-of-range case. The paper fits an ARIMA; we use
 * an AR(1) on log(1 + idle minutes), least squares on the most recent samples: idle times are
 * heavy-tailed (log) and strongly autocorrelated for timer-like apps (AR term). With one sample the
 * forecast is that sample.
 */
export function forecastNextIdle(recentIdle: readonly number[]): number {
  return roundMicro(forecastRaw(recentIdle));
}

/** Log/exp round trips leave 999.9999999; the windowing floors, so drop float noise first. */
function roundMicro(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

function forecastRaw(recentIdle: readonly number[]): number {
  const n = recentIdle.length;
  if (n === 0) return 0;
  const x = recentIdle.map((v) => Math.log1p(v));
  const last = x[n - 1]!;
  if (n < 3) return Math.expm1(last);
  const mean = x.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 1; i < n; i++) {
    num += (x[i]! - mean) * (x[i - 1]! - mean);
    den += (x[i - 1]! - mean) ** 2;
  }
  const phi = den === 0 ? 0 : Math.max(-0.99, Math.min(0.99, num / den));
  return Math.max(0, Math.expm1(mean + phi * (last - mean)));
}

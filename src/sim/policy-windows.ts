/**
 * Any causal M1 policy as a source of minute windows for M2's window path (m2-planned.ts): told each
 * ended minute's busy series, it asks the policy for (pw, ka) after that busy minute — exactly the
 * question M1 asks — and holds the series' latest window, which the live planFromWindows, reconcile and
 * router then turn into shadow environments, as they do forewarm's. So in M2 a baseline such as the
 * hybrid histogram and forewarm differ only in the windows they choose, not in how windows become
 * environments.
 *
 * A window holds the most tasks of the series that ran at once in its last RECENT busy minutes: an M1
 * policy keeps an app loaded, whole, as fixed keep-alive in M2 keeps every environment the app used.
 */
import { type BusySeries, RECENT, type SeriesWindow } from "../plan/series-windows.js";
import type { MinuteWindows } from "./m2-planned.js";
import type { M1Policy } from "./policies/types.js";

const MINUTE_MS = 60_000;

export class PolicyWindows implements MinuteWindows {
  private readonly latest = new Map<string, SeriesWindow>();
  /** Per app, its concurrency in its last RECENT busy minutes (ring; 0 = not yet). */
  private readonly used: Uint16Array;
  private lastMinute = Number.NEGATIVE_INFINITY;

  /**
   * `policy` numbers apps as the trace does (0 … apps − 1, the index its per-app facts are given
   * by); `appOf` names each series' app.
   */
  constructor(
    private readonly policy: M1Policy,
    private readonly label: string,
    apps: number,
    private readonly appOf: (series: string) => number,
  ) {
    this.used = new Uint16Array(apps * RECENT);
  }

  learnMinute(minute: number, busy: readonly BusySeries[]): void {
    if (minute <= this.lastMinute)
      throw new Error(`minute ${minute} reported after minute ${this.lastMinute}: minutes must ascend`);
    this.lastMinute = minute;
    // A minute's apps in the trace's order, as M1 asks them.
    const order = busy.map((s) => ({ s, app: this.appOf(s.series) })).sort((x, y) => x.app - y.app);
    for (const { s, app } of order) {
      if (!(app >= 0 && app < this.used.length / RECENT))
        throw new Error(`series ${s.series}: app ${app} outside 0…${this.used.length / RECENT - 1}`);
      const { pw, ka } = this.policy.afterBusyMinute(app, minute, Math.max(1, s.arrivals ?? 1));
      const from = (minute + pw + 1) * MINUTE_MS;
      this.latest.set(s.series, {
        series: s.series,
        user: s.user,
        minute,
        pw,
        ka,
        from,
        until: ka > 0 ? from + ka * MINUTE_MS : from,
        environments: this.hold(app, s.environments),
        pMiss: null,
        reason: `${this.label} after busy minute ${minute}: load (now+${pw}, now+${pw + ka}]`,
      });
    }
  }

  windows(): IterableIterator<SeriesWindow> {
    return this.latest.values();
  }

  /** Records the minute's concurrency (unknown is not remembered) and returns the most of the ring. */
  private hold(app: number, environments: number | undefined): number {
    const base = app * RECENT;
    if (environments !== undefined && environments > 0 && Number.isFinite(environments)) {
      this.used.copyWithin(base + 1, base, base + RECENT - 1);
      this.used[base] = Math.min(Math.floor(environments), 65_535);
    }
    let most = 1;
    for (let k = 0; k < RECENT; k++) most = Math.max(most, this.used[base + k]!);
    return most;
  }
}

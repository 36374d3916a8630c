import type { LoadedTrace } from "../trace.js";

/**
 * Per-app metadata that some formats carry, aligned with `minutes.appNames` of the loaded trace: the
 * app's user (Azure `HashOwner`, Google `user`, SWF user id, csv `user` column) and its trigger (Azure
 * `Trigger`; several functions' triggers joined by "+"). Policies may pool what they learn by these
 * keys (issue 7: priors for new apps); nothing in the M1/M2 scores depends on them.
 */
export interface AppMeta {
  user: (string | undefined)[];
  trigger: (string | undefined)[];
}

/** A loaded trace that may carry app metadata (loaders add it; older callers ignore it). */
export type LoadedTraceWithMeta = LoadedTrace & { appMeta?: AppMeta };

export function appMetaOf(loaded: LoadedTrace): AppMeta | undefined {
  return (loaded as LoadedTraceWithMeta).appMeta;
}

/** Collects metadata by app id as a loader numbers apps. */
export class AppMetaRecorder {
  readonly meta: AppMeta = { user: [], trigger: [] };

  /** The app's user; the first one given wins. */
  user(id: number, user: string | undefined): void {
    this.grow(id);
    if (this.meta.user[id] === undefined && user !== undefined && user !== "") this.meta.user[id] = user;
  }

  /** Adds one of the app's triggers (kept sorted and unique). */
  trigger(id: number, trigger: string | undefined): void {
    this.grow(id);
    if (trigger === undefined || trigger === "") return;
    const had = this.meta.trigger[id];
    if (had === undefined) this.meta.trigger[id] = trigger;
    else if (!had.split("+").includes(trigger))
      this.meta.trigger[id] = [...had.split("+"), trigger].sort().join("+");
  }

  /** The metadata for `appCount` apps (missing entries undefined). */
  finish(appCount: number): AppMeta {
    this.grow(appCount - 1);
    this.meta.user.length = appCount;
    this.meta.trigger.length = appCount;
    return this.meta;
  }

  private grow(id: number): void {
    while (this.meta.user.length <= id) {
      this.meta.user.push(undefined);
      this.meta.trigger.push(undefined);
    }
  }
}

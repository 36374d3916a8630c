import type { ForewarmMetrics } from "../cluster/metrics.js";
import { ENVIRONMENT_STATES } from "../cluster/metrics.js";
import type { Orchestrator } from "../orchestrator/orchestrator.js";
import type { PredictionLoop } from "../orchestrator/prediction-loop.js";

/** Connects the orchestrator's and the prediction loop's events to the Prometheus metrics. */
export function wireMetrics(
  metrics: ForewarmMetrics,
  orchestrator: Orchestrator,
  prediction: PredictionLoop | null,
): () => void {
  orchestrator.observer = {
    started: (cold, latencyMs) => metrics.taskStarted(cold, latencyMs),
    requeued: (cold) => metrics.taskRequeued(cold),
    finished: (status) => metrics.taskFinished(status),
  };
  orchestrator.pool.onReclaim = (reason) => metrics.reclaimed(reason);
  if (prediction) {
    prediction.observer = {
      retrained: (r) => metrics.retrained(r.durationMs / 1000, r.fitted),
      planned: (seconds) => metrics.plannerCycle(seconds),
      forecastError: (mae) => metrics.forecastError(mae),
      windowDecided: (pw, ka, price) => metrics.windowDecided(pw, ka, price),
    };
  }
  let lastWasted = orchestrator.pool.counters.wastedMbMs;
  const sample = () => {
    const snap = orchestrator.snapshot();
    const environments: Record<string, number> = Object.fromEntries(ENVIRONMENT_STATES.map((s) => [s, 0]));
    let cpu = 0;
    let mem = 0;
    for (const e of snap.environments) {
      environments[e.state] = (environments[e.state] ?? 0) + 1;
      cpu += e.spec.resources.cpu;
      mem += e.spec.resources.memoryMb;
    }
    metrics.setPool({
      environments,
      queueLength: orchestrator.queueLength,
      capacityUsed: {
        cpu: cpu / snap.capacity.cpu,
        memory: mem / snap.capacity.memoryMb,
        environments: snap.environments.length / snap.capacity.maxEnvironments,
      },
    });
    const wasted = orchestrator.pool.counters.wastedMbMs;
    if (wasted > lastWasted) metrics.wastedMemory((wasted - lastWasted) / 1000);
    lastWasted = wasted;
  };
  sample();
  const timer = setInterval(sample, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

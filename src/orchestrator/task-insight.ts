import fs from "node:fs";
import path from "node:path";
import { type CodeAnalysis, CodeAnalyzer } from "../analysis/index.js";
import type { CodeFingerprint } from "../classify/code-similarity.js";
import { describeInput } from "../classify/input-features.js";
import { ResourceEstimator } from "../classify/resource-estimator.js";
import { type ClassifierState, TaskClassifier } from "../classify/task-classifier.js";
import type { ResourceVector, Task, TaskInsightRecord, TaskRecord } from "../core/types.js";
import type { HistoryStore } from "../history/store.js";
import type { Logger } from "../log/logger.js";

export interface TaskUnderstanding {
  analysis: CodeAnalysis;
  insight: TaskInsightRecord;
  /** Resources the router should look for: the request, raised to the estimate where none was asked. */
  need: ResourceVector;
  /**
   * Typical run time in ms: the estimator's median for the type (the runtime's pooled one for a new
   * type) — the median, not the mean, so a heavy tail of other types does not stretch a short task.
   */
  expectedRunMs: number;
}

/** Samples a type needs before its memory estimate may raise the default size. */
const MIN_SAMPLES = 3;
/** Head-room over the p95 peak memory estimate, and the granularity sizes are rounded up to. */
const HEADROOM = 1.25;
const MEMORY_STEP_MB = 64;

/**
 * The estimator's group: a user's task type. Type names are the users' own (two tenants' "resize" are
 * different code), so one user's runs must not size another's tasks; the runtime's pooled prior, which
 * a type with no history of its own falls back to, is shared.
 */
const estimateKey = (user: string, taskType: string): string => `${user}\u0000${taskType}`;

/**
 * Understands an arriving task: static analysis of its code, a task type when none was declared
 * (classifier), and the resources it will need (estimator learned from finished tasks). State that
 * outlives a restart: the classifier's prototypes (a JSON file in the data directory) and the
 * estimator (rebuilt from the history at start).
 */
export class TaskInsight {
  private readonly analyzer = new CodeAnalyzer();
  private classifier = new TaskClassifier();
  private readonly estimator = new ResourceEstimator();
  private readonly stateFile: string;
  private dirty = false;

  constructor(
    dataDir: string,
    private readonly tasksDir: string,
    private readonly log: Logger,
  ) {
    this.stateFile = path.join(dataDir, "classifier.json");
  }

  /** Loads the classifier state and replays finished tasks into the estimator. */
  async load(store: HistoryStore): Promise<void> {
    try {
      const raw = JSON.parse(fs.readFileSync(this.stateFile, "utf8")) as ClassifierState;
      this.classifier = TaskClassifier.fromState(raw);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        this.log.warn(
          { event: "classifier_state_unreadable", error: String(err) },
          "starting with no task types",
        );
      }
    }
    const done = await store.listTasks({ status: "succeeded", limit: 10_000 });
    for (const r of done.reverse()) this.observe(r);
    // The analysis worker loads the TypeScript compiler (about a second): before serving, not on a task.
    await this.analyzer.warmUp().catch((err: unknown) => {
      this.log.warn(
        { event: "analyzer_warmup_failed", error: String(err) },
        "code analysis will start lazily",
      );
    });
  }

  /** The classifier's fingerprint of the task's code, computed off the event loop. */
  private async fingerprintOf(task: Task, source: string): Promise<CodeFingerprint> {
    const f = await this.analyzer.fingerprint(task.runtime, source, this.classifier.fingerprintOptions);
    if (f.unavailable)
      this.log.warn(
        { event: "fingerprint_unavailable", task: task.id, error: f.unavailable },
        "code fingerprint unavailable; the task is typed by its exact source",
      );
    return f;
  }

  private source(task: Task): string | null {
    if (task.code !== undefined) return task.code;
    if (task.entry === undefined) return null;
    try {
      return fs.readFileSync(path.resolve(this.tasksDir, task.entry), "utf8");
    } catch {
      return null;
    }
  }

  async understand(task: Task, defaults: ResourceVector): Promise<TaskUnderstanding> {
    const source = this.source(task);
    // Both off the event loop, side by side: the analysis (worker thread or Python helper) and the
    // classifier's fingerprint of the code (worker thread).
    const [analysis, fingerprint] = await Promise.all([
      source === null
        ? Promise.resolve<CodeAnalysis>({
            linesOfCode: null,
            cyclomatic: null,
            functionCount: null,
            halsteadVolume: null,
            analysisError: "source unavailable",
            imports: [],
          })
        : this.analyzer.analyze(task.runtime, source),
      source === null || task.typeDeclared ? null : this.fingerprintOf(task, source),
    ]);
    const input = describeInput(task.input, task.inputBytes);
    let similarity: number | null = null;
    let matchedExisting: boolean | null = null;
    if (!task.typeDeclared) {
      const c = this.classifier.classify({
        fingerprint,
        user: task.user,
        runtime: task.runtime,
        entry: task.entry ?? null,
        fn: task.fn,
        dependencies: task.dependencies,
        code: source,
        input: task.input,
        inputBytes: task.inputBytes,
      });
      task.taskType = c.taskType;
      similarity = c.similarity;
      matchedExisting = c.matchedExisting;
      this.dirty = true;
    }
    const est = this.estimator.estimate(estimateKey(task.user, task.taskType), {
      runtime: task.runtime,
      inputBytes: task.inputBytes,
    });
    const need: ResourceVector = { ...defaults, ...task.resources };
    if (task.resources?.memoryMb === undefined && est.samples >= MIN_SAMPLES) {
      const wanted = Math.ceil((est.peakMemoryMb.p95 * HEADROOM) / MEMORY_STEP_MB) * MEMORY_STEP_MB;
      need.memoryMb = Math.max(need.memoryMb, wanted);
    }
    return {
      analysis,
      need,
      expectedRunMs: est.durationMs.p50,
      insight: {
        typeDeclared: task.typeDeclared,
        similarity,
        matchedExisting,
        inputKind: input.kind,
        sizeClass: input.sizeClass,
        estimate:
          est.samples > 0
            ? {
                peakMemoryMbP95: est.peakMemoryMb.p95,
                durationMsP95: est.durationMs.p95,
                cpuSecondsP95: est.cpuSeconds.p95,
                samples: est.samples,
              }
            : null,
        routedMemoryMb: need.memoryMb,
      },
    };
  }

  /** Learns from a finished task's measured use. */
  observe(r: TaskRecord): void {
    if (r.status !== "succeeded") return;
    this.estimator.observe(
      estimateKey(r.user, r.taskType),
      { runtime: r.runtime, inputBytes: r.inputBytes },
      {
        cpuSeconds: r.cpuSeconds,
        peakMemoryMb: r.peakMemoryMb,
        durationMs: r.startedAt !== null && r.finishedAt !== null ? r.finishedAt - r.startedAt : null,
        outputBytes: r.outputBytes,
      },
    );
  }

  /** Writes the classifier's prototypes (atomically) when they changed. */
  save(): void {
    if (!this.dirty) return;
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.classifier.exportState()));
    fs.renameSync(tmp, this.stateFile);
    this.dirty = false;
  }

  async close(): Promise<void> {
    this.save();
    await this.analyzer.close();
  }
}

import { createHash } from "node:crypto";
import {
  type CodeFingerprint,
  codeFingerprint,
  type FingerprintOptions,
  signatureSimilarity,
} from "./code-similarity.js";
import { describeInput, type InputKind } from "./input-features.js";

/** What the classifier looks at for a task whose type was not declared. */
export interface ClassifyFeatures {
  user: string;
  runtime: string;
  /** Module path for entry-point tasks; null/undefined for inline code. */
  entry?: string | null;
  /** Exported function called. */
  fn?: string;
  dependencies?: readonly string[];
  /** Source of the task (inline code, or the entry module's content when the caller has it). */
  code?: string | null;
  /**
   * The code's fingerprint under `fingerprintOptions`, when the caller computed it (the live server
   * does, off its event loop); else it is computed here from `code`.
   */
  fingerprint?: CodeFingerprint | null;
  input?: unknown;
  /** Input size; defaults to the JSON size of `input`. */
  inputBytes?: number;
}

export interface Classification {
  taskType: string;
  /** True when an existing prototype of this user was reused. */
  matchedExisting: boolean;
  /** Similarity to the chosen (or, for a new type, the closest rejected) prototype: 0…1. */
  similarity: number;
  inputKind: InputKind;
  sizeClass: number;
}

export interface TaskClassifierOptions {
  /** Estimated Jaccard similarity of token shingles at or above which code is the same type. */
  threshold?: number;
  numHashes?: number;
  shingleSize?: number;
  /** Code with fewer shingles than this only matches on an identical token stream. */
  minShingles?: number;
  /** A prototype accepts inputs whose log2 size class is within this many classes of its first. */
  sizeClassSpan?: number;
  maxPrototypesPerUser?: number;
}

/** Defaults, justified by test/classify/task-classifier.test.ts (see the threshold test there). */
export const CLASSIFIER_DEFAULTS: Required<TaskClassifierOptions> = {
  threshold: 0.6,
  numHashes: 128,
  shingleSize: 4,
  minShingles: 24,
  sizeClassSpan: 8,
  maxPrototypesPerUser: 1000,
};

interface Prototype {
  taskType: string;
  /** Everything that must be equal to share a type: runtime, entry, fn, dependencies, input kind. */
  groupKey: string;
  anchorSizeClass: number;
  /** Token-stream hashes of the first and the latest matched code (exact-match fast path). */
  tokenHashes: string[];
  /** MinHash of the first and of the latest matched code; null for code-less or tiny code. */
  anchorSignature: number[] | null;
  latestSignature: number[] | null;
  lastUsed: number;
}

export interface ClassifierState {
  version: 1;
  options: Required<TaskClassifierOptions>;
  sequence: number;
  users: Record<string, Prototype[]>;
}

/**
 * Assigns task types to undeclared tasks by online prototype clustering per user. A task joins
 * the most similar prototype of its user in the same group (runtime, entry, function, dependency
 * set, input kind) whose size band fits, if the similarity reaches the threshold; otherwise it
 * founds a prototype. The type id is `<runtime>:<hash>` of the founding task's content, so the
 * same code gets the same id again after a restart, even without the exported state.
 * Prototypes keep their first and latest code, so a series of small edits stays one type.
 */
export class TaskClassifier {
  private readonly options: Required<TaskClassifierOptions>;
  private readonly users = new Map<string, Prototype[]>();
  private sequence = 0;

  constructor(options: TaskClassifierOptions = {}) {
    this.options = { ...CLASSIFIER_DEFAULTS, ...options };
  }

  classify(features: ClassifyFeatures): Classification {
    const o = this.options;
    const input = describeInput(features.input ?? null, features.inputBytes);
    const entry = features.entry ?? null;
    const fn = features.fn ?? "handler";
    const deps = [...new Set(features.dependencies ?? [])].sort();
    const groupKey = JSON.stringify([features.runtime, entry, fn, deps, input.kind]);
    const fp = features.fingerprint ?? this.fingerprint(features.runtime, features.code ?? null);
    const mine = this.users.get(features.user) ?? [];
    const candidates = mine
      .filter(
        (p) => p.groupKey === groupKey && Math.abs(p.anchorSizeClass - input.sizeClass) <= o.sizeClassSpan,
      )
      .sort(
        (a, b) =>
          Math.abs(a.anchorSizeClass - input.sizeClass) - Math.abs(b.anchorSizeClass - input.sizeClass),
      );
    const seq = ++this.sequence;
    const exact = candidates.find((p) => p.tokenHashes.includes(fp.tokenHash));
    if (exact) {
      exact.lastUsed = seq;
      return this.result(exact.taskType, true, 1, input.kind, input.sizeClass);
    }
    let best: Prototype | null = null;
    let bestSimilarity = 0;
    if (fp.signature) {
      for (const p of candidates) {
        const s = Math.max(
          p.anchorSignature ? signatureSimilarity(fp.signature, p.anchorSignature) : 0,
          p.latestSignature ? signatureSimilarity(fp.signature, p.latestSignature) : 0,
        );
        if (s > bestSimilarity) {
          best = p;
          bestSimilarity = s;
        }
      }
    }
    if (best && bestSimilarity >= o.threshold) {
      best.lastUsed = seq;
      best.latestSignature = fp.signature;
      best.tokenHashes = [best.tokenHashes[0] ?? fp.tokenHash, fp.tokenHash];
      return this.result(best.taskType, true, bestSimilarity, input.kind, input.sizeClass);
    }
    // Anchors of one group are more than `span` classes apart, so the band makes the id unique.
    const band = Math.floor(input.sizeClass / (o.sizeClassSpan + 1));
    const idSource = JSON.stringify([groupKey, band, fp.tokenHash]);
    const hash = createHash("sha256").update(idSource).digest("hex").slice(0, 16);
    const proto: Prototype = {
      taskType: `${features.runtime}:${hash}`,
      groupKey,
      anchorSizeClass: input.sizeClass,
      tokenHashes: [fp.tokenHash],
      anchorSignature: fp.signature,
      latestSignature: fp.signature,
      lastUsed: seq,
    };
    mine.push(proto);
    this.users.set(features.user, mine);
    this.evict(mine);
    return this.result(proto.taskType, false, bestSimilarity, input.kind, input.sizeClass);
  }

  /** What a fingerprint passed to `classify` must be computed with. */
  get fingerprintOptions(): FingerprintOptions {
    const o = this.options;
    return { shingleSize: o.shingleSize, minShingles: o.minShingles, numHashes: o.numHashes };
  }

  /** Number of prototypes held (all users). */
  get prototypeCount(): number {
    let n = 0;
    for (const list of this.users.values()) n += list.length;
    return n;
  }

  /** Plain JSON for persistence; `TaskClassifier.fromState` restores an equal classifier. */
  exportState(): ClassifierState {
    const users: Record<string, Prototype[]> = {};
    for (const [user, list] of this.users) users[user] = list.map((p) => structuredClone(p));
    return { version: 1, options: { ...this.options }, sequence: this.sequence, users };
  }

  static fromState(state: ClassifierState): TaskClassifier {
    if (state?.version !== 1) throw new Error("unsupported classifier state version");
    const c = new TaskClassifier(state.options);
    if (!Number.isInteger(state.sequence)) throw new Error("classifier state: bad sequence");
    c.sequence = state.sequence;
    for (const [user, list] of Object.entries(state.users)) {
      if (!Array.isArray(list)) throw new Error(`classifier state: prototypes of ${user} not a list`);
      c.users.set(
        user,
        list.map((p) => validPrototype(p, c.options.numHashes)),
      );
    }
    return c;
  }

  private fingerprint(runtime: string, code: string | null): CodeFingerprint {
    if (code === null) return { tokenHash: "", signature: null };
    return codeFingerprint(runtime, code, this.fingerprintOptions);
  }

  private evict(list: Prototype[]): void {
    while (list.length > this.options.maxPrototypesPerUser) {
      let oldest = 0;
      for (let i = 1; i < list.length; i++)
        if ((list[i]?.lastUsed ?? 0) < (list[oldest]?.lastUsed ?? 0)) oldest = i;
      list.splice(oldest, 1);
    }
  }

  private result(
    taskType: string,
    matchedExisting: boolean,
    similarity: number,
    inputKind: InputKind,
    sizeClass: number,
  ): Classification {
    return { taskType, matchedExisting, similarity, inputKind, sizeClass };
  }
}

function validPrototype(p: Prototype, numHashes: number): Prototype {
  const sigOk = (s: unknown): boolean =>
    s === null || (Array.isArray(s) && s.length === numHashes && s.every((x) => Number.isInteger(x)));
  if (
    typeof p?.taskType !== "string" ||
    typeof p.groupKey !== "string" ||
    !Number.isInteger(p.anchorSizeClass) ||
    !Array.isArray(p.tokenHashes) ||
    !sigOk(p.anchorSignature) ||
    !sigOk(p.latestSignature) ||
    !Number.isInteger(p.lastUsed)
  ) {
    throw new Error("classifier state: malformed prototype");
  }
  return structuredClone(p);
}

import { createHash } from "node:crypto";

/**
 * Code fingerprints for the classifier: the source is cut into lexical tokens with comments and
 * whitespace dropped (so reformatting and comment edits change nothing), consecutive tokens form
 * shingles, and a MinHash signature estimates the Jaccard similarity of two shingle sets.
 */

// Strings are matched before comments so that "//" inside a string is not a comment. A string or
// comment left open ends where the line (or, for templates, block comments and triple-quoted strings,
// the source) does, and the greedy loops never backtrack: matching stays linear. With a required
// closing quote, every unclosed quote rescanned the rest of the source: 16 Ki characters of them took
// 140 ms, 256 Ki took 7.8 s.
const NODE_TOKENS =
  /`(?:\\[\s\S]|[^\\`])*`?|"(?:\\[^\n]|[^"\\\n])*"?|'(?:\\[^\n]|[^'\\\n])*'?|\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|[A-Za-z_$#][\w$]*|\d[\w.]*|\S/g;
const PYTHON_TOKENS =
  /[rRbBuUfF]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\[^\n]|[^"\\\n])*"?|'(?:\\[^\n]|[^'\\\n])*'?)|#[^\n]*|[A-Za-z_]\w*|\d[\w.]*|\S/g;

export function codeTokens(runtime: string, source: string): string[] {
  const python = runtime.startsWith("python");
  const pattern = python ? PYTHON_TOKENS : NODE_TOKENS;
  const tokens: string[] = [];
  for (const m of source.matchAll(pattern)) {
    const t = m[0];
    if (python ? t.startsWith("#") : t.startsWith("//") || t.startsWith("/*")) continue;
    tokens.push(t);
  }
  return tokens;
}

/** Hash of the token stream: equal for sources that differ only in layout and comments. */
export function tokenStreamHash(tokens: readonly string[]): string {
  return createHash("sha256").update(tokens.join("\u0001")).digest("hex").slice(0, 32);
}

/** Distinct k-token shingles; a stream shorter than k is one shingle. */
export function shingles(tokens: readonly string[], k: number): Set<string> {
  const out = new Set<string>();
  if (tokens.length === 0) return out;
  if (tokens.length <= k) {
    out.add(tokens.join("\u0001"));
    return out;
  }
  for (let i = 0; i + k <= tokens.length; i++) out.add(tokens.slice(i, i + k).join("\u0001"));
  return out;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: a cheap, well-mixing hash family when seeded per position. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const seedCache = new Map<number, Uint32Array>();

function seeds(count: number): Uint32Array {
  let s = seedCache.get(count);
  if (!s) {
    s = new Uint32Array(count);
    // Fixed seeds: signatures must compare equal across restarts and exported state.
    for (let i = 0; i < count; i++) s[i] = fmix32(0x9e3779b9 + Math.imul(i + 1, 0x7f4a7c15));
    seedCache.set(count, s);
  }
  return s;
}

/** MinHash signature: per hash function, the minimum hash over the shingles. */
export function minHashSignature(set: ReadonlySet<string>, numHashes: number): number[] {
  const seed = seeds(numHashes);
  const mins = new Uint32Array(numHashes).fill(0xffffffff);
  for (const sh of set) {
    const base = fnv1a(sh);
    for (let i = 0; i < numHashes; i++) {
      const h = fmix32(base ^ (seed[i] ?? 0));
      if (h < (mins[i] ?? 0)) mins[i] = h;
    }
  }
  return Array.from(mins);
}

/** Fraction of equal positions: an unbiased estimate of the Jaccard similarity of the two sets. */
export function signatureSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Exact Jaccard similarity; used by tests to check the estimate. */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

/** What the classifier compares: the layout-free token stream's hash and its MinHash signature. */
export interface CodeFingerprint {
  tokenHash: string;
  /** Null for code with fewer than `minShingles` shingles (it matches only on an equal token stream). */
  signature: number[] | null;
}

export interface FingerprintOptions {
  shingleSize: number;
  minShingles: number;
  numHashes: number;
}

/** The fingerprint of a source: ~0.4 s per MB, so the live server computes it off its event loop. */
export function codeFingerprint(runtime: string, code: string, o: FingerprintOptions): CodeFingerprint {
  const tokens = codeTokens(runtime, code);
  const set = shingles(tokens, o.shingleSize);
  const signature = set.size >= o.minShingles ? minHashSignature(set, o.numHashes) : null;
  return { tokenHash: tokenStreamHash(tokens), signature };
}

/** Coarse shape of a task's input: what kind of work the same code is being asked to do. */
export type InputKind = "null" | "json-object" | "json-array" | "number" | "boolean" | "text" | "binary";

export interface InputDescription {
  kind: InputKind;
  bytes: number;
  /** log2 size class: 0 for 0 bytes, else floor(log2(bytes)) + 1 (1 B → 1, 2–3 B → 2, 1 KiB → 11). */
  sizeClass: number;
}

export function sizeClassOf(bytes: number): number {
  if (!(bytes >= 1)) return 0;
  return Math.floor(Math.log2(bytes)) + 1;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * A string looks like encoded binary when it is a data: URL with base64, or a long run of the
 * base64 alphabet with a valid length, mixed case and a digit or symbol (plain words rarely are).
 */
export function looksLikeBase64(s: string): boolean {
  if (/^data:[^,]*;base64,/.test(s)) return true;
  if (s.length < 16 || s.length % 4 !== 0) return false;
  if (!BASE64.test(s) && !BASE64_URL.test(s)) return false;
  const mixedCase = /[a-z]/.test(s) && /[A-Z]/.test(s);
  return mixedCase && /[0-9+/_=-]/.test(s);
}

/** Describes an input value; `bytes` defaults to the size of its JSON encoding. */
export function describeInput(input: unknown, bytes?: number): InputDescription {
  const size = bytes ?? jsonBytes(input);
  return { kind: kindOf(input), bytes: size, sizeClass: sizeClassOf(size) };
}

function kindOf(input: unknown): InputKind {
  if (input === null || input === undefined) return "null";
  if (Array.isArray(input)) return "json-array";
  switch (typeof input) {
    case "number":
    case "bigint":
      return "number";
    case "boolean":
      return "boolean";
    case "string":
      return looksLikeBase64(input) ? "binary" : "text";
    case "object":
      return input instanceof Uint8Array ? "binary" : "json-object";
    default:
      return "json-object";
  }
}

function jsonBytes(input: unknown): number {
  if (input instanceof Uint8Array) return input.byteLength;
  try {
    return Buffer.byteLength(JSON.stringify(input) ?? "null");
  } catch {
    return 0;
  }
}

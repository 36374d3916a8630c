/** Test helpers: a seeded PRNG (mulberry32) and random programs, so results are reproducible. */
import { mulberry32 } from "../random.js";

export { mulberry32 };

export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/** Standard normal via Box–Muller. */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const NAMES = [
  "total",
  "count",
  "items",
  "value",
  "result",
  "acc",
  "row",
  "key",
  "size",
  "limit",
  "buf",
  "tmp",
];

/** One random JavaScript statement line from a small grammar (what task handlers look like). */
export function randomJsLine(rand: () => number): string {
  const a = pick(rand, NAMES);
  const b = pick(rand, NAMES);
  const n = Math.floor(rand() * 1000);
  switch (Math.floor(rand() * 8)) {
    case 0:
      return `  let ${a}${n} = ${b} * ${n % 17} + ${n};`;
    case 1:
      return `  if (${a} > ${n}) ${b} = ${b} - ${n % 7};`;
    case 2:
      return `  for (let i = 0; i < ${a}.length; i++) ${b} += ${a}[i] * ${n % 13};`;
    case 3:
      return `  ${a}.push(${b} / ${n + 1});`;
    case 4:
      return `  const ${a}_${n} = input.${b} ?? ${n};`;
    case 5:
      return `  while (${a} < ${n}) ${a} += ${b}.length;`;
    case 6:
      return `  console.log("${a} ${b} ${n}");`;
    default:
      return `  ${a} = Math.max(${b}, ${n}, ${a});`;
  }
}

export function randomJsProgram(rand: () => number, lines: number): string[] {
  const body = Array.from({ length: lines }, () => randomJsLine(rand));
  return [`export function handler(input) {`, ...body, "  return input;", "}"];
}

export function randomPythonLine(rand: () => number): string {
  const a = pick(rand, NAMES);
  const b = pick(rand, NAMES);
  const n = Math.floor(rand() * 1000);
  switch (Math.floor(rand() * 6)) {
    case 0:
      return `    ${a}${n} = ${b} * ${n % 17} + ${n}`;
    case 1:
      return `    ${b} = ${b} - ${n % 7} if ${a} > ${n} else ${b}`;
    case 2:
      return `    ${b} += sum(x * ${n % 13} for x in ${a})`;
    case 3:
      return `    ${a}.append(${b} / ${n + 1})`;
    case 4:
      return `    ${a}_${n} = event.get("${b}", ${n})`;
    default:
      return `    print("${a} ${b} ${n}")`;
  }
}

export function randomPythonProgram(rand: () => number, lines: number): string[] {
  const body = Array.from({ length: lines }, () => randomPythonLine(rand));
  return ["def handler(event, context=None):", ...body, "    return event"];
}

/** Replaces `count` random body lines (never the first or last two) with fresh random lines. */
export function editLines(
  rand: () => number,
  program: readonly string[],
  count: number,
  line: (r: () => number) => string,
): string[] {
  const out = [...program];
  for (let k = 0; k < count; k++) {
    const i = 1 + Math.floor(rand() * (out.length - 3));
    out[i] = line(rand);
  }
  return out;
}

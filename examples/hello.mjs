// A minimal node task: forewarm calls the exported `handler` with the task's JSON input.
export function handler(input) {
  return { greeting: `hello ${input?.name ?? "world"}`, at: new Date().toISOString() };
}

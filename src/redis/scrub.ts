/**
 * ioredis errors keep the command they answered, arguments included (`command.args`): an
 * AUTH's password, a SET's session payload. Errors leave the Redis layer with the command's
 * name only, in place (ioredis builds a new error for every failed command), through their
 * causes and the node error a Cluster keeps.
 */
export function withoutCommandArguments<T>(error: T): T {
  scrub(error, 0);
  return error;
}

/** Deep enough for our wrappers around ioredis's wrappers; a cycle stops here too. */
const MAX_DEPTH = 6;

function scrub(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH || !(value instanceof Error)) return;
  const holder = value as Error & { command?: unknown; lastNodeError?: unknown; previousErrors?: unknown };
  const command = holder.command;
  if (command !== null && typeof command === "object" && "args" in command) {
    holder.command = { name: (command as { name?: unknown }).name };
  }
  scrub(holder.cause, depth + 1);
  scrub(holder.lastNodeError, depth + 1);
  if (Array.isArray(holder.previousErrors))
    for (const inner of holder.previousErrors) scrub(inner, depth + 1);
}

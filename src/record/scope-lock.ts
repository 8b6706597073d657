import { randomUUID } from "node:crypto";
import type { RedisClient } from "../redis/source.js";

/**
 * Run `work` while holding `lock` (a key of the scope: one process at a time across the
 * fleet), or not at all when another process holds it: undefined then. The hold lapses after
 * `holdMs` (a crashed holder frees it); it is released once `work` is done, only if still ours.
 * `run` sends each command (on the connection the caller chooses).
 */
export async function withScopeLock<T>(
  run: <R>(operation: (client: RedisClient) => Promise<R>) => Promise<R>,
  lock: string,
  holdMs: number,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const token = randomUUID();
  if ((await run((c) => c.set(lock, token, "PX", holdMs, "NX"))) !== "OK") return undefined;
  try {
    return await work();
  } finally {
    await run((c) => c.relsUnlock(lock, token)).catch(() => undefined);
  }
}

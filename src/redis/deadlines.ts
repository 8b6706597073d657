/** Waiting on Redis, bounded: reconnect backoff, a deadline on a promise, a client's readiness. */
import { RedisUnavailableError } from "../errors.js";
import type { RedisClient } from "./source.js";

/** Exponential backoff with "equal jitter": never 0 ms, never in lockstep with other processes. */
export function jitteredBackoff(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** One set of listeners per client however many calls wait for it (no MaxListenersExceededWarning). */
const readiness = new WeakMap<RedisClient, Promise<void>>();

/** Resolves when `client` is ready; rejects with the next error it reports, or when it ends. */
export function readyOrFailure(client: RedisClient): Promise<void> {
  let ready = readiness.get(client);
  if (!ready) {
    ready = new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        client.off("ready", onReady);
        client.off("error", onError);
        client.off("end", onEnd);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => settle();
      const onError = (error: Error) => settle(error);
      const onEnd = () => settle(new Error("Connection closed, no reconnection"));
      client.on("ready", onReady);
      client.on("error", onError);
      client.on("end", onEnd);
    }).finally(() => readiness.delete(client));
    readiness.set(client, ready);
  }
  return ready;
}

export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisUnavailableError(`Redis did not answer within ${ms} ms (${what})`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

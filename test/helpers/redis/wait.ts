/**
 * Polling against a deadline (never sleeping for readiness), with log tails in the error so a
 * startup failure says why.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { SpawnedRedis } from "./types.js";

const POLL_MS = 50;

/** Thrown from a check to stop waiting at once (e.g. the process died). */
export class GiveUp extends Error {}

/**
 * Poll `check` every POLL_MS until it returns true. A string (or a thrown error) means "not yet,
 * because …" and ends up in the timeout message, together with `diagnostics()` (log tails).
 */
export async function waitUntil(
  what: string,
  check: () => Promise<true | string>,
  options: { timeoutMs: number; diagnostics?: () => Promise<string> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const details = async () => (options.diagnostics ? `\n${await options.diagnostics()}` : "");
  let lastReason = "no check finished";
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      lastReason = result;
    } catch (err) {
      if (err instanceof GiveUp) throw new Error(`Waiting for ${what}: ${err.message}${await details()}`);
      lastReason = errorMessage(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `Timed out after ${options.timeoutMs} ms waiting for ${what} (last: ${lastReason})${await details()}`,
      );
    }
    await delay(POLL_MS);
  }
}

export async function logTail(file: string, lines: number): Promise<string> {
  const text = await readFile(file, "utf8").catch((err: unknown) => `(cannot read: ${errorMessage(err)})`);
  const tail = text.trimEnd().split("\n").slice(-lines);
  return `--- last ${tail.length} lines of ${file} ---\n${tail.join("\n")}`;
}

export async function logTails(servers: SpawnedRedis[], lines: number): Promise<string> {
  return (await Promise.all(servers.map((s) => logTail(join(s.dir, "redis.log"), lines)))).join("\n");
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

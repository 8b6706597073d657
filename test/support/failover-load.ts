/**
 * A failover under load, for the Cluster and Sentinel suites: workers run the store's
 * operations while the suite switches masters; every operation is timed and watched, and
 * each acknowledged session is kept with the moment its `set` resolved, so a suite can ask
 * which of them survived.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import type { SessionData } from "express-session";
import { expect } from "vitest";
import { RelsSessionError, type RelsRedisStore } from "../../src/index.js";
import { newSid, sessionFor } from "./store-contract.js";

/** An operation that has not settled by then counts as hung. */
export const HANG_MS = 5000;

export interface LoadOutcome {
  ops: number;
  /** Typed failures (`RelsSessionError` subclasses) by error name. */
  failures: Record<string, number>;
  /** Operations that rejected with anything else. */
  unexpected: string[];
  maxMs: number;
  hung: string[];
  /** Sessions whose `set` resolved before the failover started, with their payload. */
  ackedBefore: Map<string, number>;
  /** Sessions whose `set` resolved while the failover ran. */
  ackedDuring: Map<string, number>;
  /** Sessions whose `set` resolved once `failover()` had resolved. */
  ackedAfter: Map<string, number>;
  /** Sessions whose `destroy` resolved (an acknowledged revocation), by when: before, during, after. */
  revoked: Map<string, "before" | "during" | "after">;
  failoverMs: number;
}

export interface FailoverLoadOptions {
  failover: () => Promise<void>;
  /** Runs right after the failover counts as started (say, WAIT for the replica). */
  beforeFailover?: () => Promise<void>;
  concurrency: number;
  /** How long the whole run may take. */
  maxMs: number;
  /** How many operations to run once `failover()` resolved. */
  postOps: number;
  /** The session a worker saves as step `n` (signed in, say). @default an anonymous session */
  sessionOf?: (sid: string, n: number) => SessionData;
}

/**
 * `concurrency` workers run set / get / touch / set+destroy against `store` (paced, so
 * the load spans the switch) while `failover()` runs. Every operation must resolve or
 * reject with a RelsSessionError within HANG_MS. Sessions are reported by when their `set`
 * resolved: before the failover started, while it ran, or after `failover()` resolved.
 */
export async function failoverUnderLoad(
  store: RelsRedisStore,
  options: FailoverLoadOptions,
): Promise<LoadOutcome> {
  const outcome: LoadOutcome = {
    ops: 0,
    failures: {},
    unexpected: [],
    maxMs: 0,
    hung: [],
    ackedBefore: new Map(),
    ackedDuring: new Map(),
    ackedAfter: new Map(),
    revoked: new Map(),
    failoverMs: 0,
  };
  let failoverStartedAt = Number.POSITIVE_INFINITY;
  let failoverEndedAt = Number.POSITIVE_INFINITY;
  let stop = false;
  let counter = 0;

  const timed = async <T>(what: string, op: () => Promise<T>): Promise<T | undefined> => {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<"hung">((resolve) => {
      timer = setTimeout(() => resolve("hung"), HANG_MS);
    });
    try {
      const result = await Promise.race([op(), watchdog]);
      if (result === "hung") {
        outcome.hung.push(what);
        return undefined;
      }
      return result;
    } catch (error) {
      if (error instanceof RelsSessionError)
        outcome.failures[error.name] = (outcome.failures[error.name] ?? 0) + 1;
      else outcome.unexpected.push(`${what}: ${String(error)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
      outcome.ops += 1;
      outcome.maxMs = Math.max(outcome.maxMs, performance.now() - started);
    }
  };

  const worker = async () => {
    const mine: Array<{ sid: string; n: number }> = [];
    while (!stop) {
      const step = counter++;
      const pick = mine[step % Math.max(1, mine.length)];
      switch (step % 4) {
        case 0: {
          const sid = newSid();
          const ok = await timed("set", async () => {
            await store.set(sid, options.sessionOf?.(sid, step) ?? sessionFor(600_000, { n: step }));
            return true;
          });
          if (ok) {
            mine.push({ sid, n: step });
            const now = performance.now();
            (now < failoverStartedAt
              ? outcome.ackedBefore
              : now < failoverEndedAt
                ? outcome.ackedDuring
                : outcome.ackedAfter
            ).set(sid, step);
          }
          break;
        }
        case 1:
          if (pick) await timed("get", () => store.get(pick.sid));
          break;
        case 2:
          if (pick) await timed("touch", () => store.touch(pick.sid, sessionFor(600_000, { n: pick.n })));
          break;
        default: {
          const sid = newSid();
          const stored = await timed("set (disposable)", async () => {
            await store.set(sid, options.sessionOf?.(sid, step) ?? sessionFor(60_000));
            return true;
          });
          const revoked = await timed("destroy", async () => {
            await store.destroy(sid);
            return true;
          });
          if (stored && revoked) {
            const now = performance.now();
            outcome.revoked.set(
              sid,
              now < failoverStartedAt ? "before" : now < failoverEndedAt ? "during" : "after",
            );
          }
        }
      }
      // Pacing, so a few thousand operations cover the seconds the switch takes.
      await delay(5);
    }
  };

  const started = performance.now();
  const workers = Array.from({ length: options.concurrency }, worker);
  try {
    await waitFor("the load to get going", () => outcome.ops >= 200, 10_000);
    // Writes acknowledged from here on may be lost by an uncoordinated switch; earlier ones may not.
    failoverStartedAt = performance.now();
    await options.beforeFailover?.();
    await options.failover();
    failoverEndedAt = performance.now();
    outcome.failoverMs = failoverEndedAt - failoverStartedAt;
    const mark = outcome.ops;
    await waitFor(
      "operations after the failover",
      () => outcome.ops >= mark + options.postOps || performance.now() - started > options.maxMs,
      options.maxMs,
    );
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  return outcome;
}

/** One line for the test log: how the run went. */
export function describeOutcome(outcome: LoadOutcome): string {
  return (
    `${outcome.ops} ops, failover ${Math.round(outcome.failoverMs)} ms, slowest op ${Math.round(outcome.maxMs)} ms, ` +
    `failures ${JSON.stringify(outcome.failures)}, ` +
    `sessions acknowledged before / during / after: ${outcome.ackedBefore.size} / ${outcome.ackedDuring.size} / ${outcome.ackedAfter.size}, ` +
    `revocations acknowledged: ${outcome.revoked.size}`
  );
}

/** Acknowledged revocations whose session the store serves again (after a failover: lost). */
export async function resurrected(
  store: RelsRedisStore,
  revoked: ReadonlyMap<string, string>,
): Promise<string[]> {
  const found = await store.findSessions([...revoked.keys()]);
  return [...revoked.keys()].filter((sid) => found.get(sid) !== null);
}

/** Nothing hung, and every failure was a typed `RelsSessionError`. */
export function expectEveryOperationSettled(outcome: LoadOutcome): void {
  expect(outcome.unexpected).toEqual([]);
  expect(outcome.hung).toEqual([]);
  expect(outcome.maxMs).toBeLessThan(HANG_MS);
}

/** The sessions of `sessions` (sid → payload `n`) that the store no longer returns with their payload. */
export async function lostSessions(
  store: RelsRedisStore,
  sessions: ReadonlyMap<string, number>,
): Promise<Array<[string, number]>> {
  const found = await store.findSessions([...sessions.keys()]);
  return [...sessions].filter(([sid, n]) => (found.get(sid) as unknown as { n: number } | null)?.n !== n);
}

/** `rounds` sessions each set, read back, touched and destroyed through `store`, one after another. */
export async function expectStoreServes(store: RelsRedisStore, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const sid = newSid();
    await store.set(sid, sessionFor(60_000, { i }));
    expect(((await store.get(sid)) as unknown as { i: number }).i).toBe(i);
    await store.touch(sid, sessionFor(120_000));
    await store.destroy(sid);
    expect(await store.get(sid)).toBeNull();
  }
}

/** The first moment `op` succeeds, polled against a deadline; then it must keep succeeding. */
export async function firstSuccess(op: () => Promise<unknown>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await op();
      return Date.now() - started;
    } catch (error) {
      if (!(error instanceof RelsSessionError) || Date.now() - started > timeoutMs) throw error;
      await delay(50);
    }
  }
}

async function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

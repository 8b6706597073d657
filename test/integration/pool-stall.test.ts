/**
 * The shared pool and the process's own event-loop stall (issue 8, "Heavy accounts and the
 * shared breaker"): a long synchronous job of the app's, run while commands are in flight,
 * must not open the pool's circuit, or every other user of the process is served without a
 * session until the breaker's probe closes it again.
 *
 * Needs RedisPool to feed its breaker through `commandFailed` with an EventLoopStallWatch
 * (src/redis/breaker.ts); fails until pool.ts does.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { RedisPool } from "../../src/redis/pool.js";

const COMMAND_TIMEOUT = 100;
const STALL_MS = 400;

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: a long synchronous job of the app's own
  }
}

const pool = new RedisPool({
  target: { kind: "url", url: inject("redisUrl") },
  size: 1,
  acquireTimeoutMs: 5000,
  commandTimeoutMs: COMMAND_TIMEOUT,
  probeKey: `pool-stall:probe:${process.pid}`,
});

afterAll(async () => {
  await pool.close();
});

describe("RedisPool during an event-loop stall of its own process", () => {
  it("commands that time out because the loop was blocked leave the circuit closed", async () => {
    expect(await pool.run((c) => c.ping())).toBe("PONG");
    const disconnects: number[] = [];
    pool.on("disconnect", () => disconnects.push(Date.now()));

    // More in flight than the breaker's threshold (5): each would count as a failure today.
    const calls = Array.from({ length: 10 }, (_, i) =>
      pool
        .run((c) => c.get(`pool-stall:${i}`))
        .then(
          () => "answered",
          (error: unknown) => error,
        ),
    );
    blockEventLoop(STALL_MS);
    const outcomes = await Promise.all(calls);

    expect(outcomes.filter((o) => o !== "answered").length).toBeGreaterThan(0);
    expect(pool.breakerState).toBe("closed");
    expect(disconnects).toEqual([]);
    // The next request is served, not failed fast.
    expect(await pool.run((c) => c.ping())).toBe("PONG");
  });
});

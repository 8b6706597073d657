/**
 * The process's own event-loop stall is not Redis failing: a command timeout noticed as the
 * loop comes out of a stall is not counted by the breaker. Real timers and a real blocked
 * loop (busy-waiting is the behaviour under test, not a wait for readiness).
 */
import { afterEach, describe, expect, it } from "vitest";
import { RedisUnavailableError } from "../../src/errors.js";
import {
  CircuitBreaker,
  EventLoopStallWatch,
  isTimeoutError,
  STALL_WATCH_DEFAULTS,
  type BreakerState,
} from "../../src/redis/breaker.js";

/** Keep the event loop busy for `ms`, as a long synchronous decode would. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

const STALL_MS = 400;
/**
 * Well above what a loaded machine's scheduler adds to a timer, so the "no stall" cases
 * cannot be excused by accident; well below STALL_MS.
 */
const THRESHOLD_MS = 150;
const ioredisTimeout = () => new Error("Command timed out");

const watches: EventLoopStallWatch[] = [];
afterEach(() => {
  for (const watch of watches.splice(0)) watch.stop();
});

function setup(failureThreshold = 1) {
  const watch = new EventLoopStallWatch({ intervalMs: 20, thresholdMs: THRESHOLD_MS }).start();
  watches.push(watch);
  const changes: BreakerState[] = [];
  const breaker = new CircuitBreaker({ failureThreshold, resetMs: 1000 }, (s) => changes.push(s), watch);
  return { watch, breaker, changes };
}

/** Run `fail` from a timer due in `dueMs`, then block the loop for `blockMs`: the timer fires when the loop is back. */
function failFromTimer<T>(fail: () => T, dueMs: number, blockMs: number): Promise<T> {
  return new Promise<T>((resolve) => {
    setTimeout(() => resolve(fail()), dueMs);
    if (blockMs > 0) blockEventLoop(blockMs);
  });
}

describe("breaker and the process's own event-loop stalls", () => {
  it("does not count a timeout that fires as the loop comes out of a stall, before the watch samples", async () => {
    const { breaker, changes } = setup();
    // Due at 1 ms: runs before the watch's sample (due at 20 ms), which is overdue by then.
    const counted = await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), 1, STALL_MS);
    expect(counted).toBe(false);
    expect(breaker.state).toBe("closed");
    expect(changes).toEqual([]);
  });

  it("does not count it either when the watch sampled first (the other order Node may run due timers in)", async () => {
    const { watch, breaker } = setup();
    // Due at 100 ms: the watch's sample (due at 20 ms) runs first and records the stall.
    const counted = await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), 100, STALL_MS);
    expect(counted).toBe(false);
    expect(breaker.state).toBe("closed");
    expect(watch.longestStallMs).toBeGreaterThanOrEqual(STALL_MS - 100);
  });

  it("does not count a pool deadline wrapped in RedisUnavailableError during a stall", async () => {
    const { breaker } = setup();
    const wrapped = new RedisUnavailableError("Redis is unavailable: Command timed out", {
      cause: ioredisTimeout(),
    });
    expect(await failFromTimer(() => breaker.commandFailed(wrapped), 1, STALL_MS)).toBe(false);
    const deadline = new RedisUnavailableError("Redis did not answer within 1000 ms (connecting)");
    expect(await failFromTimer(() => breaker.commandFailed(deadline), 1, STALL_MS)).toBe(false);
    expect(breaker.state).toBe("closed");
  });

  it("counts a timeout when the loop was free (Redis did not answer)", async () => {
    const { breaker, changes } = setup();
    const counted = await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), 30, 0);
    expect(counted).toBe(true);
    expect(breaker.state).toBe("open");
    expect(changes).toEqual(["open"]);
  });

  it("counts other failures even right after a stall: a refused connection is Redis's news", async () => {
    const { breaker } = setup();
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(await failFromTimer(() => breaker.commandFailed(refused), 1, STALL_MS)).toBe(true);
    expect(breaker.state).toBe("open");
  });

  it("counts timeouts again once the stall is over", async () => {
    const { breaker } = setup(2);
    expect(await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), 1, STALL_MS)).toBe(false);
    // A later timeout with a free loop: the stall ended long enough ago.
    expect(await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), THRESHOLD_MS * 2, 0)).toBe(
      true,
    );
    expect(await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), 30, 0)).toBe(true);
    expect(breaker.state).toBe("open");
  });

  it("a half-open probe that times out across a stall frees the probe slot instead of re-opening", async () => {
    const { breaker } = setup();
    breaker.open(0);
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.state).toBe("half-open");
    expect(await failFromTimer(() => breaker.commandFailed(ioredisTimeout(), 1000), 1, STALL_MS)).toBe(false);
    expect(breaker.state).toBe("half-open");
    expect(breaker.allow(1000)).toBe(true);
  });

  it("without a watch, a stall's timeouts open the circuit (the behaviour this guards against)", async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetMs: 1000 }, () => undefined);
    expect(await failFromTimer(() => breaker.commandFailed(ioredisTimeout()), 1, STALL_MS)).toBe(true);
    expect(breaker.state).toBe("open");
  });

  it("a stopped watch reports no stall; its defaults are 20 ms samples and a 50 ms threshold", async () => {
    const { watch } = setup();
    watch.stop();
    blockEventLoop(THRESHOLD_MS * 2);
    expect(watch.stalledJustNow()).toBe(false);
    expect(STALL_WATCH_DEFAULTS).toEqual({ intervalMs: 20, thresholdMs: 50 });
    const defaults = new EventLoopStallWatch().start();
    watches.push(defaults);
    const stalled = await failFromTimer(() => defaults.stalledJustNow(), 1, 200);
    expect(stalled).toBe(true);
  });
});

describe("isTimeoutError", () => {
  it("recognises ioredis's command timeout and the pool's deadlines, wrapped or not", () => {
    expect(isTimeoutError(new Error("Command timed out"))).toBe(true);
    expect(isTimeoutError(new RedisUnavailableError("Redis did not answer within 500 ms (probing)"))).toBe(
      true,
    );
    expect(
      isTimeoutError(
        new RedisUnavailableError("Redis is unavailable: Command timed out", {
          cause: new Error("Command timed out"),
        }),
      ),
    ).toBe(true);
  });

  it("refuses everything else", () => {
    for (const error of [
      new Error("connect ECONNREFUSED 127.0.0.1:1"),
      new Error("Connection is closed."),
      new RedisUnavailableError("Redis is unavailable (circuit open); failing fast"),
      "Command timed out",
      undefined,
    ]) {
      expect(isTimeoutError(error)).toBe(false);
    }
  });
});

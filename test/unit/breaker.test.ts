import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerState } from "../../src/redis/breaker.js";
import { jitteredBackoff } from "../../src/redis/deadlines.js";

describe("circuit breaker", () => {
  const make = () => {
    const changes: BreakerState[] = [];
    const breaker = new CircuitBreaker({ failureThreshold: 3, resetMs: 1000 }, (s) => changes.push(s));
    return { breaker, changes };
  };

  it("opens after consecutive failures, fails fast, then lets one probe through", () => {
    const { breaker, changes } = make();
    breaker.failure(0);
    breaker.success();
    breaker.failure(0);
    breaker.failure(0);
    expect(breaker.state).toBe("closed");
    breaker.failure(0);
    expect(breaker.state).toBe("open");
    expect(breaker.allow(500)).toBe(false);
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.state).toBe("half-open");
    expect(breaker.allow(1001)).toBe(false);
    breaker.success();
    expect(breaker.state).toBe("closed");
    expect(changes).toEqual(["open", "half-open", "closed"]);
  });

  it("re-opens when the probe fails", () => {
    const { breaker } = make();
    breaker.open(0);
    expect(breaker.allow(1500)).toBe(true);
    breaker.failure(1500);
    expect(breaker.state).toBe("open");
    expect(breaker.allow(2000)).toBe(false);
    expect(breaker.allow(2500)).toBe(true);
  });

  it("frees the probe slot when the probe ends without news of Redis", () => {
    const { breaker } = make();
    breaker.open(0);
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.allow(1000)).toBe(false);
    breaker.release();
    expect(breaker.state).toBe("half-open");
    expect(breaker.allow(1000)).toBe(true);
  });
});

describe("reconnect backoff", () => {
  it("grows exponentially, is jittered, and is capped", () => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const delay = jitteredBackoff(attempt, 50, 2000);
      const ceiling = Math.min(2000, 50 * 2 ** attempt);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    }
    const samples = new Set(Array.from({ length: 20 }, () => jitteredBackoff(10, 50, 2000)));
    expect(samples.size).toBeGreaterThan(1);
  });
});

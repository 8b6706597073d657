/**
 * The once-per-outage latch of `warnOnOutage` (no Redis): the pool's circuit may open many
 * times in one outage (a call let through half-open fails and reopens it), and a recovery
 * is told only after an outage was. The integration test (test/integration/
 * outage-warnings.test.ts) stops and restarts a real server; this one replays the events a
 * flapping circuit gives, which a real server cannot be made to give on cue.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OUTAGE_WARNING_CODES, RedisConnectionError } from "../../src/index.js";
import { warnOnOutage, type WatchedSource } from "../../src/redis/outage-warnings.js";
import type { SourceListeners } from "../../src/redis/source.js";

/** The two events of a pool, sent by hand, and the last failure it would report. */
class Events implements WatchedSource {
  listeners: SourceListeners | undefined;
  lastFailure: RedisConnectionError | undefined;
  subscribe(listeners: SourceListeners): () => void {
    this.listeners = listeners;
    return () => (this.listeners = undefined);
  }
}

const warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if (String((warning as { code?: unknown }).code).startsWith("RELS_SESSION_REDIS")) warnings.push(warning);
};

beforeEach(() => {
  process.on("warning", onWarning);
});

afterEach(() => {
  process.off("warning", onWarning);
  warnings.length = 0;
});

/** Process warnings are emitted on the next tick. */
const nextTick = () => new Promise((resolve) => process.nextTick(resolve));

describe("warnOnOutage", () => {
  it("warns once per outage however often the circuit reopens, once on recovery, and not for a connect without an outage", async () => {
    const events = new Events();
    const stop = warnOnOutage(events, "cache:6380");
    events.listeners!.connect();
    events.lastFailure = new RedisConnectionError(
      "cache:6380",
      "connection refused",
      "connect ECONNREFUSED 10.0.0.5:6380",
    );
    for (let i = 0; i < 5; i++) events.listeners!.disconnect();
    events.listeners!.connect();
    events.listeners!.connect();
    await nextTick();
    expect(warnings.map((w) => (w as { code?: string }).code)).toEqual([
      OUTAGE_WARNING_CODES.down,
      OUTAGE_WARNING_CODES.recovered,
    ]);
    expect(warnings[0]!.message).toBe(
      "rels-session: Redis is unavailable. Cannot connect to Redis at cache:6380: connection refused (connect ECONNREFUSED 10.0.0.5:6380). Session calls fail fast until it answers again",
    );
    // A second outage is a new one.
    events.listeners!.disconnect();
    await nextTick();
    expect(warnings).toHaveLength(3);
    stop();
    expect(events.listeners).toBeUndefined();
  });

  it("tells a logger instead, with the address, the reason and the code", () => {
    const logged: [object, string][] = [];
    const events = new Events();
    warnOnOutage(events, "cache:6380", { warn: (details, message) => logged.push([details, message]) });
    events.listeners!.disconnect();
    events.listeners!.connect();
    expect(logged).toEqual([
      [
        { address: "cache:6380", reason: "connection lost", code: OUTAGE_WARNING_CODES.down },
        expect.stringContaining("cache:6380 closed the connection or stopped answering"),
      ],
      [
        { address: "cache:6380", code: OUTAGE_WARNING_CODES.recovered },
        "rels-session: Redis at cache:6380 answers again",
      ],
    ]);
  });
});

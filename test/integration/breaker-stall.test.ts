/**
 * The event-loop stall case with real ioredis command timeouts against a real Redis.
 *
 * Commands are sent, Redis answers at once, then this process blocks its own loop past the
 * command deadline: when the loop is back, Node runs the due timeout timers before it reads
 * the replies waiting in the socket, so every command fails with "Command timed out".
 * The breaker fed the way the pool feeds it (`commandFailed` on each failure) must not open
 * for that; it must still open when Redis itself stops answering (CLIENT PAUSE on a private
 * server).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CircuitBreaker, EventLoopStallWatch, isTimeoutError } from "../../src/redis/breaker.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";

const COMMAND_TIMEOUT = 100;
const STALL_MS = 400;
const COMMANDS = 10;

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: a long synchronous job of the app's own
  }
}

/** Send `count` GETs, each failure reported to `breakers` as the pool's #classify would; settle all. */
async function sendAndReport(client: Redis, count: number, breakers: CircuitBreaker[], blockMs: number) {
  const calls = Array.from({ length: count }, (_, i) =>
    client.get(`breaker-stall:${i}`).then(
      () => "answered" as const,
      (error: unknown) => {
        for (const breaker of breakers) breaker.commandFailed(error);
        return error;
      },
    ),
  );
  if (blockMs > 0) blockEventLoop(blockMs);
  return Promise.all(calls);
}

const watch = new EventLoopStallWatch();
const clients: Redis[] = [];
let paused: SpawnedRedis | undefined;

beforeAll(() => {
  watch.start();
});

afterAll(async () => {
  watch.stop();
  for (const client of clients) client.disconnect();
  await paused?.dispose();
});

async function connect(url: string): Promise<Redis> {
  const client = new Redis(url, {
    commandTimeout: COMMAND_TIMEOUT,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  clients.push(client);
  await client.connect();
  await client.ping();
  return client;
}

describe("breaker fed by real ioredis timeouts", () => {
  it("a stall of this process's own event loop times commands out, yet does not open the circuit", async () => {
    const client = await connect(inject("redisUrl"));
    const guarded = new CircuitBreaker({ failureThreshold: 5, resetMs: 1000 }, () => undefined, watch);
    const unguarded = new CircuitBreaker({ failureThreshold: 5, resetMs: 1000 }, () => undefined);

    const outcomes = await sendAndReport(client, COMMANDS, [guarded, unguarded], STALL_MS);

    // The precondition is real: Redis answered, but the deadlines fired first.
    for (const outcome of outcomes) expect(isTimeoutError(outcome), String(outcome)).toBe(true);
    expect(unguarded.state).toBe("open");
    expect(guarded.state).toBe("closed");
    expect(guarded.allow()).toBe(true);
    // Redis was fine all along.
    expect(await client.ping()).toBe("PONG");
  });

  it("a Redis that stops answering (CLIENT PAUSE) still opens the circuit", async () => {
    paused = await spawnRedisServer();
    const client = await connect(paused.url);
    const admin = new Redis(paused.url);
    clients.push(admin);
    // A threshold well above what a loaded machine's scheduler adds to a timer: these timeouts
    // fire on time, and a busy CI host must not excuse them by accident.
    const tolerant = new EventLoopStallWatch({ thresholdMs: 150 }).start();
    const breaker = new CircuitBreaker({ failureThreshold: 5, resetMs: 1000 }, () => undefined, tolerant);
    // Long enough for every deadline below to pass while Redis is silent.
    await admin.client("PAUSE", 20 * COMMAND_TIMEOUT, "ALL");

    const outcomes = await sendAndReport(client, 5, [breaker], 0);

    tolerant.stop();
    for (const outcome of outcomes) expect(isTimeoutError(outcome), String(outcome)).toBe(true);
    expect(breaker.state).toBe("open");
  });
});

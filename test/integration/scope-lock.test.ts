/**
 * The fleet-wide lock of the Cluster repair and the lifetime sweep: one holder at a time, and a
 * holder whose hold lapsed never releases the next holder's lock.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { recordsOf } from "../../src/record/of-store.js";
import { withScopeLock } from "../../src/record/scope-lock.js";

const client = new Redis(inject("redisUrl"));
const store = new RelsRedisStore({ client, namespace: `t-lock-${randomUUID()}` });
const source = recordsOf(store).source;
const run = <R>(operation: Parameters<typeof source.run<R>>[0]) => source.run(operation);

afterAll(async () => {
  await store.close();
  await client.quit();
});

describe("withScopeLock", () => {
  it("runs the work once while held, and not at all while another holds the lock", async () => {
    const lock = `t-lock-${randomUUID()}`;
    const inner = await withScopeLock(run, lock, 5_000, () => withScopeLock(run, lock, 5_000, async () => 1));
    expect(inner).toBeUndefined();
    expect(await withScopeLock(run, lock, 5_000, async () => 2)).toBe(2);
    expect(await client.exists(lock)).toBe(0);
  });

  it("a holder whose hold lapsed leaves the next holder's lock in place", async () => {
    const lock = `t-lock-${randomUUID()}`;
    await withScopeLock(run, lock, 100, async () => {
      // The hold lapses; another process takes the lock meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await client.set(lock, "another", "PX", 5_000, "NX")).toBe("OK");
    });
    expect(await client.get(lock)).toBe("another");
    await client.del(lock);
  });
});

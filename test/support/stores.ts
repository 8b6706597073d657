/**
 * Stores on the suite's Redis for a test file, each on a client of its own and a fresh
 * namespace, plus a plain client to look at what they wrote; all closed when the file ends.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, inject } from "vitest";
import { RelsRedisStore, type RelsRedisStoreOptions } from "../../src/index.js";

export interface FileStores {
  /** A plain client on the same Redis. */
  readonly inspector: Redis;
  /** A new store (its own client, a fresh namespace unless `options` names one). */
  storeWith(options?: Omit<RelsRedisStoreOptions, "client" | "source">): RelsRedisStore;
  /** A new client on the suite's Redis, closed when the file ends. */
  newClient(): Redis;
}

export function storesForThisFile(): FileStores {
  const url = inject("redisUrl");
  const clients: Redis[] = [];
  const inspector = new Redis(url);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit()));
    await inspector.quit();
  });
  const newClient = () => {
    const client = new Redis(url);
    clients.push(client);
    return client;
  };
  return {
    inspector,
    storeWith: (options = {}) =>
      new RelsRedisStore({ namespace: `t-${randomUUID()}`, ...options, client: newClient() }),
    newClient,
  };
}

/**
 * Two plain clients on the suite's Redis for a test file: `client` for the stores under test,
 * `redis` to plant and inspect keys as another process would. Both closed when the file ends.
 */
export function clientsForThisFile(): { client: Redis; redis: Redis } {
  const url = inject("redisUrl");
  const client = new Redis(url);
  const redis = new Redis(url);
  afterAll(async () => {
    await Promise.all([client.quit(), redis.quit()]);
  });
  return { client, redis };
}

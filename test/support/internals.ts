/**
 * For tests about storage itself (key layout, what Redis holds): the data layer behind a
 * store. Everything else goes through the public API.
 */
import type { RelsRedisStore } from "../../src/express/store.js";
import { recordsOf } from "../../src/record/of-store.js";
import type { Keys } from "../../src/record/keys.js";
import type { RedisSource } from "../../src/redis/pool.js";

export function keysOf(store: RelsRedisStore): Keys {
  return recordsOf(store).keys;
}

export function sourceOf(store: RelsRedisStore): RedisSource {
  return recordsOf(store).source;
}

/** The private hex of every session of the store, page by page. */
export function scanOf(store: RelsRedisStore, count?: number): AsyncGenerator<string[]> {
  return recordsOf(store).scan(count);
}

/** Every stats key of the store: each shard's buckets, registry and last-updated key. */
export async function statsKeysOf(store: RelsRedisStore): Promise<string[]> {
  const keys = keysOf(store);
  const shards = keys.statsShards();
  const buckets = await sourceOf(store).run((c) => Promise.all(shards.map((shard) => c.smembers(shard.registry))));
  return [...buckets.flat(), ...shards.flatMap((shard) => [shard.registry, shard.updated])];
}

/** Lose every counter of the store (a key per command: the shards live in different slots). */
export async function dropStats(store: RelsRedisStore): Promise<void> {
  const doomed = await statsKeysOf(store);
  await sourceOf(store).run((c) => Promise.all(doomed.map((key) => c.del(key))));
}

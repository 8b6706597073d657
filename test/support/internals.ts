/**
 * For tests about storage itself (key layout, what Redis holds): the data layer behind a
 * store. Everything else goes through the public API.
 */
import { recordsOf, type RelsRedisStore } from "../../src/express/store.js";
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

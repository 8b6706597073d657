/**
 * For tests about storage itself (key layout, what Redis holds): the data layer behind a
 * store. Everything else goes through the public API.
 */
import type { RelsRedisStore } from "../../src/express/store.js";
import { dataLayerOf, recordsOf } from "../../src/record/of-store.js";
import { attachedMeta, metaData } from "../../src/record/meta-section.js";
import { CORRUPT } from "../../src/record/records.js";
import { privateHex } from "../../src/ids.js";
import type { Keys } from "../../src/record/keys.js";
import type { RedisSource } from "../../src/redis/source.js";
import type { RevocationFeed } from "../../src/record/revocation-feed.js";

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

/** Every stats key of the store: each shard's buckets, registry, last-updated key and deadline set. */
export async function statsKeysOf(store: RelsRedisStore): Promise<string[]> {
  const keys = keysOf(store);
  const shards = keys.statsShards();
  const buckets = await sourceOf(store).run((c) =>
    Promise.all(shards.map((shard) => c.smembers(shard.registry))),
  );
  return [...buckets.flat(), ...shards.flatMap((shard) => [shard.registry, shard.updated, shard.deadlines])];
}

/** Lose every counter of the store (a key per command: the shards live in different slots). */
export async function dropStats(store: RelsRedisStore): Promise<void> {
  const doomed = await statsKeysOf(store);
  await sourceOf(store).run((c) => Promise.all(doomed.map((key) => c.del(key))));
}

/**
 * The session as a layout-3 payload held it (what another writer may still store): its JSON
 * data with the metadata the manager set on it (under the record's symbol) in `_rels`.
 */
export function withMetaField(session: object): Record<string, unknown> {
  const meta = metaData(attachedMeta(session) ?? null);
  return meta === null ? { ...session } : { ...session, _rels: meta };
}

/** The metadata the record of `sid` holds, as data (layout 4: its section; else the payload's `_rels`); null for none. */
export async function storedMetaOf(
  store: RelsRedisStore,
  sid: string,
): Promise<Record<string, unknown> | null> {
  const layer = dataLayerOf(store);
  const hex = privateHex(sid);
  const record = await layer.records.read(hex);
  if (record === null || record === CORRUPT) return null;
  return (await layer.storedMeta(hex, record)) as Record<string, unknown> | null;
}

/** The revocation feed of a store (its subscriber): tests wait for its subscription before revoking. */
export function revocationsOf(store: RelsRedisStore): RevocationFeed {
  return dataLayerOf(store).revocations;
}

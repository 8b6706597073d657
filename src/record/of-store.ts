import type { DataLayer } from "./data-layer.js";
import type { SessionRecords } from "./records.js";

/**
 * What the modules built beside a store take (`new RelsSessionsManager({ store })`,
 * `new SessionStats(store)`, the CLI): a store that registered its data layer here. A
 * `RelsRedisStore` is one; the methods named make any other object a compile error.
 */
export interface DataLayerStore {
  findSession(sid: string): Promise<unknown>;
  deleteSessions(sids: readonly string[]): Promise<number>;
}

/** The data layer behind each store. */
const layers = new WeakMap<object, DataLayer>();

/** @internal Called by the store that owns `layer`. */
export function registerDataLayer(store: DataLayerStore, layer: DataLayer): void {
  layers.set(store, layer);
}

/** @internal The data layer of `store`: its records and codec. */
export function dataLayerOf(store: DataLayerStore): DataLayer {
  const layer = layers.get(store);
  if (!layer) throw new TypeError("expected a RelsRedisStore");
  return layer;
}

/** @internal The records of `store` (every Redis command it sends). */
export function recordsOf(store: DataLayerStore): SessionRecords {
  return dataLayerOf(store).records;
}

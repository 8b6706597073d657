import { recordsOf, type DataLayerStore } from "../record/of-store.js";
import { TUNABLES } from "../tunables.js";

/**
 * What the CLI learns from the keyspace itself: totals for progress, and where sessions are
 * when the namespace asked for holds none.
 */

/** Every key of the database over every master: the upper bound progress is shown against. */
export async function keyspaceSize(store: DataLayerStore): Promise<number> {
  const { source } = recordsOf(store);
  const sizes = await Promise.all((await source.masters()).map((node) => source.run(() => node.dbsize())));
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * Count session keys, as `store.length()` does, telling `onPage(found, examined)` after
 * each SCAN page; `examined` is COUNT per page, SCAN's own measure of the work done.
 */
export async function countSessions(
  store: DataLayerStore,
  onPage: (found: number, examined: number) => void,
): Promise<number> {
  const records = recordsOf(store);
  const { keys, scanCount } = records;
  let found = 0;
  let examined = 0;
  for await (const page of records.scanKeys(keys.sessionPattern())) {
    found += page.filter((key) => keys.hexOfSessionKey(key) !== undefined).length;
    examined += scanCount;
    onPage(found, examined);
  }
  return found;
}

/** Session keys (`<prefix>{2::<hex>}`) and stats registries (`<ns>:stats:{stats…}:buckets`, any shard). */
const SESSION_KEY = /^(.*):\{2::[0-9a-f]{64}\}$/;
const STATS_REGISTRY = /^(.*):stats:\{stats[-0-9]*\}:buckets$/;

/**
 * Whether the store's namespace holds anything of this library's: its stats registry, or a
 * session key within the same bounded SCAN as {@link otherNamespaces}.
 */
export async function namespaceHasData(store: DataLayerStore): Promise<boolean> {
  const { source, keys } = recordsOf(store);
  const registries = keys.statsShards().map((shard) => shard.registry);
  const found = await source.run((c) => Promise.all(registries.map((registry) => c.exists(registry))));
  if (found.some((n) => n > 0)) return true;
  return boundedScan(store, keys.sessionPattern(), (key) => keys.hexOfSessionKey(key) !== undefined);
}

/** SCAN every master for `pattern`, at most TUNABLES.cli.searchPages pages each; true once `wanted` says so. */
async function boundedScan(
  store: DataLayerStore,
  pattern: string,
  wanted: (key: string) => boolean,
): Promise<boolean> {
  const pages = recordsOf(store).scanKeys(pattern, {
    count: TUNABLES.cli.searchCount,
    maxPagesPerMaster: TUNABLES.cli.searchPages,
  });
  for await (const page of pages) if (page.some(wanted)) return true;
  return false;
}

/**
 * Namespaces of this library other than the store's that hold sessions, found by a bounded
 * SCAN (at most 20,000 keys per master): a hint, not an inventory.
 */
export async function otherNamespaces(store: DataLayerStore): Promise<string[]> {
  const found = new Set<string>();
  await boundedScan(store, "*{*", (key) => {
    // A revocation marker (`<prefix>tomb:{2::<hex>}`) names its store's prefix, not a namespace.
    const namespace = SESSION_KEY.exec(key)?.[1]?.replace(/:tomb$/, "") ?? STATS_REGISTRY.exec(key)?.[1];
    if (namespace !== undefined && namespace !== recordsOf(store).keys.namespace) found.add(namespace);
    return false;
  });
  return [...found].sort();
}

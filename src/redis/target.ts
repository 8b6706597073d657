import type { ClusterNode, ClusterOptions, RedisOptions } from "ioredis";
import type { SessionStoreConfig } from "../config.js";

/** Where Redis is. Exactly one of these, as `RelsSession.configure` validated it. */
export type RedisTarget =
  | { readonly kind: "url"; readonly url: string; readonly options?: RedisOptions }
  | { readonly kind: "cluster"; readonly nodes: readonly ClusterNode[]; readonly options?: ClusterOptions }
  | {
      readonly kind: "sentinel";
      readonly sentinels: ReadonlyArray<{ host: string; port: number }>;
      readonly name: string;
      readonly options?: RedisOptions;
    };

type RedisSettings = SessionStoreConfig["redisOptions"];

/**
 * Where Redis is and how to connect, from validated settings. The connection settings
 * (TLS, credentials, db, timeouts) apply to every server connected to: the url's, the
 * Sentinel group's master, each Cluster node. Options written in the url itself (password,
 * db) win over these, as ioredis merges them.
 */
export function targetOf(redis: RedisSettings): RedisTarget {
  const connection = connectionOptionsOf(redis);
  if (redis.cluster) {
    const { nodes, ...options } = redis.cluster;
    const cluster = options as ClusterOptions;
    const { db: _clusterHasOnlyDb0, ...perNode } = connection;
    return {
      kind: "cluster",
      nodes: nodes as ClusterNode[],
      options: { ...cluster, redisOptions: { ...perNode, ...cluster.redisOptions } },
    };
  }
  if (redis.sentinel) {
    const { sentinels, name, ...options } = redis.sentinel;
    // ioredis uses `tls` for the master only with enableTLSForSentinelMode; the sentinels
    // themselves take `sentinelTLS` (passed through inside `sentinel`).
    const tlsMode: RedisOptions = connection.tls ? { enableTLSForSentinelMode: true } : {};
    return {
      kind: "sentinel",
      sentinels,
      name,
      options: { ...connection, ...tlsMode, ...(options as RedisOptions) },
    };
  }
  return { kind: "url", url: redis.url!, options: connection };
}

/** Only the settings given: an absent one must not override the url's or ioredis's default. */
function connectionOptionsOf(redis: RedisSettings): RedisOptions {
  const { tls, username, password, db, connectTimeout, family, keepAlive } = redis;
  const given: RedisOptions = {};
  if (tls !== undefined) given.tls = { ...tls };
  if (username !== undefined) given.username = username;
  if (password !== undefined) given.password = password;
  if (db !== undefined) given.db = db;
  if (connectTimeout !== undefined) given.connectTimeout = connectTimeout;
  if (family !== undefined) given.family = family;
  if (keepAlive !== undefined) given.keepAlive = keepAlive;
  return given;
}

/** The database `target` selects: the url's own (`/4`) wins over the `db` setting, as in ioredis; 0 on Cluster. */
export function databaseOf(target: RedisTarget): number {
  if (target.kind === "cluster") return 0;
  if (target.kind === "url") {
    const path = URL.canParse(target.url) ? new URL(target.url).pathname.slice(1) : "";
    if (/^\d+$/.test(path)) return Number(path);
  }
  return target.options?.db ?? 0;
}

/**
 * A Redis Cluster (3 masters + 3 replicas) for one test file: started before its tests,
 * disposed after them, with a Cluster client to look at it and pools that close with it.
 */
import { Cluster } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { RedisPool } from "../../src/redis/pool.js";
import { startRedisCluster, type RedisClusterHandle } from "../helpers/redis.js";

export interface ClusterFile {
  /** The cluster (throws if it did not start). */
  handle(): RedisClusterHandle;
  /** A Cluster client of the test's own. */
  inspector(): Cluster;
  /** A one-client pool of the library's on the cluster, closed when the file ends. */
  pool(commandTimeoutMs?: number): RedisPool;
  /** Run `close` when the file ends (clients a test opened). */
  closeLater(close: () => Promise<unknown>): void;
}

export function clusterForThisFile(): ClusterFile {
  let cluster: RedisClusterHandle | undefined;
  let inspector: Cluster | undefined;
  const opened: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
    inspector = new Cluster(cluster.nodes);
    await inspector.ping();
  }, 120_000);
  afterAll(async () => {
    for (const close of opened.splice(0)) await close().catch(() => undefined);
    await inspector?.quit().catch(() => inspector?.disconnect());
    await cluster?.dispose();
  });
  const handle = () => {
    if (!cluster) throw new Error("the cluster did not start (see beforeAll)");
    return cluster;
  };
  return {
    handle,
    inspector: () => {
      if (!inspector) throw new Error("the cluster did not start (see beforeAll)");
      return inspector;
    },
    pool: (commandTimeoutMs = 2000) => {
      const pool = new RedisPool({
        target: { kind: "cluster", nodes: handle().nodes },
        size: 1,
        acquireTimeoutMs: 5000,
        commandTimeoutMs,
      });
      opened.push(() => pool.close());
      return pool;
    },
    closeLater: (close) => void opened.push(close),
  };
}

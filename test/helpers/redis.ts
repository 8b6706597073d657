/**
 * The one place that provisions Redis for tests, the demo and the benchmark; this file only
 * re-exports, one job per module under ./redis/.
 *
 * Order of preference (AGENTS.md, "Redis in tests"):
 *   REDIS_URL → a private redis-server from PATH → Testcontainers → a clear error.
 * Cluster and Sentinel topologies are always spawned from the redis-server binary.
 *
 * Ground rules the modules keep:
 * - everything binds to 127.0.0.1, on ports the OS says are free (ports.ts);
 * - every server lives in its own temp dir with persistence off (`save ""`, `appendonly no`);
 *   its stdout/stderr go to `<dir>/redis.log`, whose tail is put into every startup error (spawn.ts);
 * - readiness is polled (INFO / CLUSTER INFO / SENTINEL ...) against a deadline, never slept for (wait.ts);
 * - every child is killed on dispose, and SIGKILLed on process exit if someone forgot (processes.ts);
 * - we never flush or stop a server we did not spawn.
 *
 * provide.ts: REDIS_URL / redis-server / Testcontainers; spawn.ts: one server; cluster.ts and
 * sentinel.ts: the topologies and their failovers; client.ts: questions asked while polling.
 */
export type {
  ProvidedRedis,
  RedisClusterHandle,
  RedisEndpoint,
  RedisSentinelHandle,
  SpawnedRedis,
} from "./redis/types.js";
export { provideRedis } from "./redis/provide.js";
export { spawnRedisServer } from "./redis/spawn.js";
export { startRedisCluster } from "./redis/cluster.js";
export { startRedisSentinel } from "./redis/sentinel.js";

/** What the provisioning helpers hand out: endpoints and handles on what they started. */

/** Everything spawned here binds to loopback only. */
export const HOST = "127.0.0.1";

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface ProvidedRedis {
  url: string;
  source: "env" | "spawned" | "container";
  /** Stops what provideRedis started; a no-op for REDIS_URL (not ours). */
  stop(): Promise<void>;
}

export interface SpawnedRedis extends RedisEndpoint {
  url: string;
  /** Temp dir holding the config, `redis.log` and (for cluster nodes) `nodes.conf`. */
  dir: string;
  /** stop the process (SIGTERM = SHUTDOWN NOSAVE here, wait for exit); keeps dir and port for restart() */
  stop(): Promise<void>;
  /** start again on the same port (with the same config), resolve when it answers */
  restart(): Promise<void>;
  /** SIGKILL, for crash tests */
  kill(): Promise<void>;
  /** stop + remove the temp dir; safe to call twice */
  dispose(): Promise<void>;
}

export interface RedisClusterHandle {
  /** every node (masters and replicas) */
  nodes: RedisEndpoint[];
  /** current masters (serving slots, not failed), asked from the cluster, ordered by their lowest slot */
  masters(): Promise<RedisEndpoint[]>;
  /** CLUSTER FAILOVER on a replica of the master serving `key` (or of the first master); resolves once
   *  that replica is master, every reachable node maps the slot to it and reports cluster_state:ok */
  failover(key?: string): Promise<void>;
  /** The replica of the master at `endpoint`. */
  replicaOf(endpoint: RedisEndpoint): Promise<RedisEndpoint>;
  /** SIGSTOP the node at `endpoint` (it stops reading, replication included); the call returned sends SIGCONT. */
  freeze(endpoint: RedisEndpoint): Promise<() => void>;
  /** SIGKILL the node at `endpoint` (a crash test); resolves once its process is gone. */
  kill(endpoint: RedisEndpoint): Promise<void>;
  /**
   * Resolves once every live node reports cluster_state:ok and sees `masters` serving masters,
   * none of them failed (after a kill: once a replica has taken over).
   */
  recovered(timeoutMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

export interface RedisSentinelHandle {
  /** master group name */
  name: string;
  sentinels: RedisEndpoint[];
  /** asked from a sentinel (SENTINEL get-master-addr-by-name) */
  master(): Promise<RedisEndpoint>;
  /**
   * SENTINEL FAILOVER; resolves when all reachable sentinels report the new master and it answers
   * ROLE master, and the old master (if up) has been demoted to its in-sync replica, with its
   * clients disconnected, as Sentinel itself would do ~10 s later.
   */
  failover(): Promise<void>;
  dispose(): Promise<void>;
}

import { Cluster, Redis, type RedisOptions } from "ioredis";
import { jitteredBackoff } from "./deadlines.js";
import type { RedisClient } from "./source.js";
import type { RedisTarget } from "./target.js";

/** See `disconnectTimeout` below. */
const DISCONNECT_TIMEOUT_MS = 100;

/** What a pool's clients are made with (see `PoolOptions`). */
export interface ClientOptions {
  readonly target: RedisTarget;
  readonly commandTimeoutMs: number;
  readonly acquireTimeoutMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
}

/**
 * An ioredis client (or Cluster) for `target`, with the options every pool connection needs:
 * the command deadline, no offline queue, jittered reconnects. The pool listens to it.
 */
export function newClient(options: ClientOptions): RedisClient {
  const { target, commandTimeoutMs } = options;
  const { baseMs, maxMs } = options.backoff;
  const retryStrategy = (attempt: number) => jitteredBackoff(attempt, baseMs, maxMs);
  // No offline queue: while disconnected a command fails at once instead of piling up
  // in memory, and a request never waits longer than the command deadline.
  const shared: RedisOptions = {
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A command in flight when the connection drops is failed, never sent again after the
    // reconnect: after a failover that would reach another server, and a WAIT re-sent there
    // would confirm a revocation the new master never saw.
    autoResendUnfulfilledCommands: false,
    connectTimeout: options.acquireTimeoutMs,
    retryStrategy,
    // How long a disconnect waits for the server to close the socket before destroying
    // it. ioredis arms this timer even for a socket already closed (a failed handshake
    // closes twice) and never unrefs it: with its 2 s default a CLI lingered 2 s on exit.
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
  };
  switch (target.kind) {
    case "url":
      return new Redis(target.url, { ...shared, ...target.options });
    case "sentinel":
      return new Redis({
        ...shared,
        sentinelRetryStrategy: retryStrategy,
        // Follow +switch-master at once instead of finding out from failed commands.
        failoverDetector: true,
        ...target.options,
        sentinels: [...target.sentinels],
        name: target.name,
      });
    case "cluster":
      return new Cluster([...target.nodes], {
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        ...target.options,
        redisOptions: { ...shared, ...target.options?.redisOptions },
      });
  }
}

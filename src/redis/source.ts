/**
 * What the data layer takes from the plumbing: a `RedisSource` (the pool, pool.ts, or an
 * app's own client, client-source.ts), its listeners, and the hooks run on each client.
 */
import { Cluster, type Redis } from "ioredis";
import type { ChannelListeners } from "./subscriber-link.js";

export type { ChannelListeners };

export type RedisClient = Redis | Cluster;

/** What the store and the other modules need from Redis: the pool, or one client of the app's. */
export interface RedisSource {
  readonly isCluster: boolean;
  /** The database its sessions live in (0 on Cluster): pub/sub channels are server-wide, keys are not. */
  readonly database: number;
  /**
   * `key`: the one key the operation touches, when there is one. On Cluster it names the
   * master the operation goes to, whose own circuit breaker decides (one master's trouble
   * fails only its own requests); elsewhere it is not needed.
   */
  run<T>(operation: (client: RedisClient) => Promise<T>, key?: string): Promise<T>;
  /**
   * Run an operation that blocks its connection (`WAIT` for a replica after a revocation) on a
   * connection of its own, so the requests that share the others never queue behind it. The
   * writes `WAIT` covers must go out on that same connection: put them in `operation`.
   */
  runBlocking<T>(operation: (client: RedisClient) => Promise<T>): Promise<T>;
  /**
   * Make `runBlocking`'s connection now, while Redis is healthy (where revocations will wait
   * for replicas): made by the first revocation instead, it could itself wait on replicas
   * that do not answer (a Cluster client maps the slots through the nodes).
   */
  prepareBlocking(): void;
  /** Every master, for work that must visit each shard (SCAN). Standalone: the one server. */
  masters(): Promise<Redis[]>;
  /** Be told when Redis becomes usable or unusable; returns the call that stops it. */
  subscribe(listeners: SourceListeners): () => void;
  /**
   * Run `prepare` on every client this source has and every one it makes from now on
   * (once per client and function): how the data layer defines its scripts, so the
   * plumbing knows none of them.
   */
  prepare(prepare: PrepareClient): void;
  /**
   * Listen to a pub/sub channel on a connection of its own (made now, made again whenever it
   * drops, closed with the source); `subscribed` is told each time the channel is subscribed
   * again, so the listener can re-check what it missed. Returns the call that stops it.
   */
  listen(channel: string, listeners: ChannelListeners): () => Promise<void>;
  close(): Promise<void>;
}

/** Set a client up before use (define commands on it); must be safe to call again on the same client. */
export type PrepareClient = (client: RedisClient) => void;

export interface SourceListeners {
  connect(): void;
  disconnect(): void;
  /** Cluster: another set of masters than before (a failover, a reshard). */
  mastersChanged?(): void;
}

/** What each source keeps of `prepare`: the functions, applied to the clients given. */
export class Preparations {
  readonly #hooks = new Set<PrepareClient>();
  readonly #done = new WeakMap<RedisClient, Set<PrepareClient>>();

  /** Remember `hook`, and run it on `clients` now. */
  add(hook: PrepareClient, clients: Iterable<RedisClient>): void {
    this.#hooks.add(hook);
    for (const client of clients) this.apply(client);
  }

  /** Run every hook not yet run on `client`. */
  apply(client: RedisClient): void {
    let done = this.#done.get(client);
    if (!done) this.#done.set(client, (done = new Set()));
    for (const hook of this.#hooks) {
      if (done.has(hook)) continue;
      done.add(hook);
      hook(client);
    }
  }
}

/** Every master of `client`: a Cluster's, or the one server. */
export function mastersOf(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes("master") : [client];
}

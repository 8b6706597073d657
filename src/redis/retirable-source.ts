import { StoreReconfiguredError } from "../errors.js";
import type { BreakerState } from "./breaker.js";
import type { Redis } from "ioredis";
import type { RedisPool } from "./pool.js";
import type { ChannelListeners, PrepareClient, RedisClient, RedisSource, SourceListeners } from "./source.js";

/**
 * The pool of one `createRelsSession()` instance, as its store sees it. When the instance
 * is replaced (`RelsSession.configure()` again) or closed, every later call fails with a
 * `StoreReconfiguredError` that says so, instead of the pool's bare "closed": the usual
 * cause is middleware still mounted with the old `store()`, and the message must lead there.
 */
export class RetirableSource implements RedisSource {
  readonly #pool: RedisPool;
  #retired: string | undefined;

  constructor(pool: RedisPool) {
    this.#pool = pool;
  }

  get isCluster(): boolean {
    return this.#pool.isCluster;
  }

  get database(): number {
    return this.#pool.database;
  }

  get breakerState(): BreakerState {
    return this.#pool.breakerState;
  }

  /** Why calls fail from now on; the pool is closed by the caller. */
  retire(reason: string): void {
    this.#retired ??= reason;
  }

  run<T>(operation: (client: RedisClient) => Promise<T>, key?: string): Promise<T> {
    if (this.#retired !== undefined) return Promise.reject(new StoreReconfiguredError(this.#retired));
    return this.#pool.run(operation, key);
  }

  runBlocking<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.#retired !== undefined) return Promise.reject(new StoreReconfiguredError(this.#retired));
    return this.#pool.runBlocking(operation);
  }

  prepareBlocking(): void {
    if (this.#retired === undefined) this.#pool.prepareBlocking();
  }

  /** See `RedisPool#ready`. */
  ready(): Promise<void> {
    if (this.#retired !== undefined) return Promise.reject(new StoreReconfiguredError(this.#retired));
    return this.#pool.ready();
  }

  masters(): Promise<Redis[]> {
    if (this.#retired !== undefined) return Promise.reject(new StoreReconfiguredError(this.#retired));
    return this.#pool.masters();
  }

  prepare(prepare: PrepareClient): void {
    this.#pool.prepare(prepare);
  }

  /** A retired instance listens to nothing (its pool is closed). */
  listen(channel: string, listeners: ChannelListeners): () => Promise<void> {
    if (this.#retired !== undefined) return async () => undefined;
    return this.#pool.listen(channel, listeners);
  }

  subscribe(listeners: SourceListeners): () => void {
    return this.#pool.subscribe(listeners);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

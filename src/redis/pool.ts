import { EventEmitter } from "node:events";
import { createPool, type Pool } from "generic-pool";
import type { Cluster, Redis } from "ioredis";
import { RedisConnectionError, RedisUnavailableError } from "../errors.js";
import { TUNABLES } from "../tunables.js";
import { CircuitBreaker, EventLoopStallWatch, type BreakerOptions, type BreakerState } from "./breaker.js";
import { addressOf, connectionError } from "./connect-failure.js";
import { corkForThisTick } from "./cork.js";
import { jitteredBackoff, readyOrFailure, withDeadline } from "./deadlines.js";
import { watchMasters } from "./master-watch.js";
import { MasterBreakers } from "./master-breakers.js";
import { newClient } from "./new-client.js";
import { withoutCommandArguments } from "./scrub.js";
import { ServerVersionCheck } from "./server-version.js";
import { ClientFailures } from "./client-failures.js";
import { CircuitProbe } from "./circuit-probe.js";
import {
  mastersOf,
  Preparations,
  type PrepareClient,
  type RedisClient,
  type RedisSource,
  type SourceListeners,
} from "./source.js";
import { databaseOf, type RedisTarget } from "./target.js";
import { asUnavailable } from "./unavailable.js";
import { SubscriberLink, SubscriberLinks, subscriberOf, type ChannelListeners } from "./subscriber-link.js";

export type { RedisTarget };

export interface PoolOptions {
  readonly target: RedisTarget;
  /** ioredis connections (or Cluster clients) kept open; each is multiplexed. */
  readonly size: number;
  /** How long opening the pool may wait for a connection, in ms. */
  readonly acquireTimeoutMs: number;
  /** Deadline of every command, in ms: past it the call fails with `RedisUnavailableError`. */
  readonly commandTimeoutMs: number;
  readonly breaker?: Partial<BreakerOptions>;
  /**
   * Key the open circuit's probe writes (with a TTL of `resetMs`): a write, because a Redis
   * that answers PING may still refuse writes (READONLY replica, OOM, MASTERDOWN).
   * @default "rels:session:probe"
   */
  readonly probeKey?: string;
  /** Reconnect backoff bounds, in ms; each delay is jittered. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
}

/**
 * The shared connection pool: generic-pool manages the lifecycle of `size` ioredis clients
 * (create with a timeout, destroy on close); requests are spread over them round-robin.
 *
 * ioredis clients are multiplexed, so a borrowed client is never held for the length of a
 * request: holding it would serialise every request of the process behind one socket. The
 * pool leases its clients once and hands them out without an await on the hot path.
 *
 * Emits `connect` when Redis becomes usable and `disconnect` when the circuit opens.
 */
export class RedisPool extends EventEmitter implements RedisSource {
  readonly #options: PoolOptions;
  readonly #pool: Pool<RedisClient>;
  readonly #breaker: CircuitBreaker;
  /** Cluster only: a breaker per master. */
  readonly #masters: MasterBreakers | undefined;
  readonly #leases: RedisClient[] = [];
  readonly #failures: ClientFailures;
  #opening: Promise<void> | undefined;
  #blocking: Promise<RedisClient> | undefined;
  readonly #version: ServerVersionCheck;
  readonly #probe: CircuitProbe;
  #next = 0;
  #closed = false;
  /** This process's own event-loop stalls: a command that timed out during one is not Redis's fault. */
  readonly #stalls = new EventLoopStallWatch();
  /** Every client made and not yet destroyed, for `prepare`. */
  readonly #made = new Set<RedisClient>();
  readonly #preparations = new Preparations();
  readonly #links = new SubscriberLinks();

  constructor(options: PoolOptions) {
    super();
    this.#options = options;
    this.#failures = new ClientFailures(options.target, options.commandTimeoutMs);
    this.#version = new ServerVersionCheck(addressOf(options.target), options.commandTimeoutMs, (error) => {
      for (const lease of this.#leases) {
        this.#failures.refuse(lease, error);
        lease.disconnect();
      }
    });
    this.#breaker = new CircuitBreaker(
      { ...TUNABLES.pool.breaker, ...options.breaker },
      (state: BreakerState) => {
        if (state === "open") {
          this.emit("disconnect");
          this.#probe.schedule();
        } else if (state === "closed") this.emit("connect");
      },
      this.#stalls,
    );
    const { resetMs } = { ...TUNABLES.pool.breaker, ...options.breaker };
    this.#probe = new CircuitProbe(this.#breaker, resetMs, () => {
      const client = this.#leases.find((c) => c.status === "ready");
      const probeKey = options.probeKey ?? "rels:session:probe";
      return client
        ? withDeadline(
            client.set(probeKey, String(Date.now()), "PX", resetMs),
            options.commandTimeoutMs,
            "probing",
          )
        : Promise.reject(new Error("no connection"));
    });
    this.#masters =
      options.target.kind === "cluster"
        ? new MasterBreakers({ ...TUNABLES.pool.breaker, ...options.breaker }, this.#stalls, (event) =>
            this.emit(event),
          )
        : undefined;
    this.#pool = createPool<RedisClient>(
      {
        create: async () => this.#createClient(),
        destroy: async (client) => {
          this.#made.delete(client);
          // An ended client is left alone: ioredis's disconnect() on a closed socket arms a
          // 2 s timer (disconnectTimeout) that nothing clears, keeping a CLI alive after close.
          if (client.status === "end") return;
          await client.quit().catch(() => {
            if (client.status !== "end") client.disconnect();
          });
        },
        validate: async (client) => client.status !== "end",
      },
      { max: options.size, min: 0, acquireTimeoutMillis: options.acquireTimeoutMs, autostart: false },
    );
  }

  get isCluster(): boolean {
    return this.#options.target.kind === "cluster";
  }

  get database(): number {
    return databaseOf(this.#options.target);
  }

  get breakerState(): BreakerState {
    return this.#breaker.state;
  }

  get commandTimeoutMs(): number {
    return this.#options.commandTimeoutMs;
  }

  /**
   * Run one operation against Redis. Fails fast with `RedisUnavailableError` while the
   * circuit is open; connection errors and timeouts become `RedisUnavailableError` too,
   * Redis error replies pass through unchanged.
   */
  run<T>(operation: (client: RedisClient) => Promise<T>, key?: string): Promise<T> {
    if (this.#closed) return Promise.reject(new RedisUnavailableError("The Redis pool is closed"));
    if (this.#masters !== undefined) return this.#runOnCluster(operation, key);
    if (!this.#breaker.allow()) return Promise.reject(this.#circuitOpen());
    // The hot path: a ready client, no async frame of our own around the command.
    const client = this.#pick();
    if (client) return this.#send(client, operation);
    return this.#firstClient().then((c) => this.#send(c, operation), this.#failed);
  }

  /**
   * Cluster: a keyed operation goes through the breaker of the master that holds its key; an
   * operation over several masters (SCAN pages, totals, bulk revocations) through none, each
   * command bounded by its deadline. The pool's own breaker only follows the Cluster client's
   * connection (it opens when the whole client is closed), so one master down or failing over
   * never fails, nor disconnects, the requests of the others.
   */
  #runOnCluster<T>(operation: (client: RedisClient) => Promise<T>, key: string | undefined): Promise<T> {
    if (!this.#breaker.allow()) return Promise.reject(this.#circuitOpen());
    const client = this.#pick();
    if (!client) return this.#firstClient().then(() => this.#runOnCluster(operation, key), this.#failed);
    const master = key === undefined ? undefined : this.#masters!.of(client as Cluster, key);
    if (master !== undefined && !master.allow()) return Promise.reject(this.#masters!.openError(master));
    corkForThisTick(client);
    let pending: Promise<T>;
    try {
      pending = operation(client);
    } catch (error) {
      return Promise.reject(this.#classify(error, master));
    }
    return pending.then(
      (result) => {
        this.#breaker.success();
        master?.success();
        return result;
      },
      (error: unknown) => {
        throw this.#classify(error, master);
      },
    );
  }

  runBlocking<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new RedisUnavailableError("The Redis pool is closed"));
    if (!this.#breaker.allow()) return Promise.reject(this.#circuitOpen());
    return this.#blockingClient().then((c) => this.#send(c, operation), this.#failed);
  }

  /** The connection for blocking operations: made on first use, outside the pool's round-robin. */
  #blockingClient(): Promise<RedisClient> {
    this.#blocking ??= (async () => {
      const client = this.#createClient();
      try {
        await withDeadline(readyOrFailure(client), this.#options.commandTimeoutMs, "connecting");
      } catch (error) {
        client.disconnect();
        throw error;
      }
      return client;
    })().catch((error: unknown) => {
      this.#blocking = undefined;
      throw error;
    });
    return this.#blocking;
  }

  prepareBlocking(): void {
    if (!this.#closed) void this.#blockingClient().catch(() => undefined);
  }

  #send<T>(client: RedisClient, operation: (client: RedisClient) => Promise<T>): Promise<T> {
    corkForThisTick(client);
    let pending: Promise<T>;
    try {
      pending = operation(client);
    } catch (error) {
      return Promise.reject(this.#classify(error));
    }
    return pending.then(this.#succeeded, this.#failed);
  }

  readonly #succeeded = <T>(result: T): T => {
    this.#breaker.success();
    return result;
  };

  readonly #failed = (error: unknown): never => {
    throw this.#classify(error);
  };

  prepare(prepare: PrepareClient): void {
    this.#preparations.add(prepare, this.#made);
  }

  listen(channel: string, listeners: ChannelListeners): () => Promise<void> {
    const { baseMs, maxMs } = this.#options.backoff ?? TUNABLES.pool.backoff;
    return this.#links.add(
      new SubscriberLink(
        async () => {
          if (this.#closed) throw new RedisUnavailableError("The Redis pool is closed");
          return subscriberOf(this.#pick() ?? (await this.#firstClient()));
        },
        channel,
        listeners,
        (attempt) => jitteredBackoff(attempt, baseMs, maxMs),
      ),
    );
  }

  subscribe(listeners: SourceListeners): () => void {
    const mastersChanged = listeners.mastersChanged ?? nothing;
    this.on("connect", listeners.connect);
    this.on("disconnect", listeners.disconnect);
    this.on("masters", mastersChanged);
    return () => {
      this.off("connect", listeners.connect);
      this.off("disconnect", listeners.disconnect);
      this.off("masters", mastersChanged);
    };
  }

  /** Not a command, so not a probe: it neither needs nor tells the breaker anything. */
  async masters(): Promise<Redis[]> {
    if (this.#closed) throw new RedisUnavailableError("The Redis pool is closed");
    return mastersOf(this.#pick() ?? (await this.#firstClient()));
  }

  /**
   * Connect if not yet, check the server's version, and PING, outside the circuit breaker:
   * resolves once Redis answers; rejects with a `RedisConnectionError` naming host:port and
   * why (refused, unknown host, AUTH, a database the server refuses, its version, timed out).
   */
  async ready(): Promise<void> {
    if (this.#closed) throw new RedisUnavailableError("The Redis pool is closed");
    const { target, commandTimeoutMs } = this.#options;
    try {
      const client = await this.#firstClient();
      await withDeadline(client.ping(), commandTimeoutMs, "PING");
    } catch (error) {
      throw error instanceof RedisConnectionError
        ? error
        : connectionError(target, this.#failures.causeOf(error, this.#leases), commandTimeoutMs);
    }
  }

  /**
   * Why Redis was last unusable, as a `RedisConnectionError` (host:port, reason), or
   * undefined when no connection reported an error (commands timed out).
   */
  get lastFailure(): RedisConnectionError | undefined {
    return this.#failures.lastFailure(this.#leases);
  }

  /** Close every connection. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#probe.stop();
    this.#stalls.stop();
    await this.#links.close();
    await this.#opening?.catch(() => undefined);
    const blocking = await this.#blocking?.catch(() => undefined);
    if (blocking && blocking.status !== "end") await blocking.quit().catch(() => blocking.disconnect());
    for (const client of this.#leases.splice(0)) await this.#pool.release(client).catch(() => undefined);
    await this.#pool.drain();
    await this.#pool.clear();
  }

  /** The hot path: a leased client that is ready, with no await. */
  #pick(): RedisClient | undefined {
    const count = this.#leases.length;
    if (count === 0) return undefined;
    const client = this.#leases[this.#next++ % count]!;
    return client.status === "ready" ? client : undefined;
  }

  /** First use, or a client still connecting: wait at most one command deadline. */
  async #firstClient(): Promise<RedisClient> {
    // A failed opening is forgotten, so the next call tries again.
    this.#opening ??= this.#open().catch((error: unknown) => {
      this.#opening = undefined;
      throw error;
    });
    const { target, commandTimeoutMs } = this.#options;
    await withDeadline(this.#opening, commandTimeoutMs, `opening the Redis pool for ${addressOf(target)}`);
    const ready = this.#leases.find((c) => c.status === "ready") ?? this.#leases[0];
    if (!ready) throw new RedisUnavailableError("The Redis pool has no connection");
    const refused = this.#failures.refusalOf(ready);
    if (refused) throw refused;
    if (ready.status === "ready") return this.#version.verified(ready);
    // Fails at the first error ioredis reports (refused, unknown host, TLS, AUTH, SELECT), not
    // after the whole deadline; with none, the deadline's error names the last one seen.
    try {
      await withDeadline(readyOrFailure(ready), commandTimeoutMs, "connecting");
    } catch (error) {
      const reported =
        error instanceof RedisUnavailableError ? this.#failures.lastErrorOf(ready) : (error as Error);
      throw this.#failures.refusalOf(ready) ?? connectionError(target, reported, commandTimeoutMs);
    }
    return this.#version.verified(ready);
  }

  /** Failing fast while the circuit is open, with the last reason a connection gave, if any. */
  #circuitOpen(): RedisUnavailableError {
    const cause = this.lastFailure;
    if (!cause) return new RedisUnavailableError("Redis is unavailable (circuit open); failing fast");
    return new RedisUnavailableError(
      `Redis is unavailable (circuit open); failing fast. Last error: ${cause.message}`,
      { cause },
    );
  }

  async #open(): Promise<void> {
    this.#stalls.start();
    this.#pool.start();
    const clients = await Promise.all(Array.from({ length: this.#options.size }, () => this.#pool.acquire()));
    this.#leases.push(...clients);
  }

  #createClient(): RedisClient {
    const { target } = this.#options;
    const client = newClient({ ...this.#options, backoff: this.#options.backoff ?? TUNABLES.pool.backoff });
    if (target.kind === "cluster") watchMasters(client as Cluster, () => this.emit("masters"));
    this.#made.add(client);
    this.#preparations.apply(client);
    client.on("ready", () => {
      // ioredis reports a refused SELECT and then declares the connection ready in
      // database 0, where the CLI's `revoke --all` would act on another app's sessions.
      // Closed here rather than on the error: mid-handshake, ioredis would close it twice,
      // and each close of a closed socket arms a 2 s timer that keeps the process alive.
      if (!this.#failures.ready(client)) return client.disconnect();
      this.#breaker.success();
    });
    client.on("close", () => {
      if (!this.#closed) this.#breaker.open();
    });
    // ioredis logs unhandled "error" events to the console; the breaker and the typed
    // errors of each call are how failures surface instead, naming the last one seen.
    client.on("error", (error: Error) => this.#failures.reported(client, error));
    return client;
  }

  /**
   * What a failure means, told to the breaker that judges it: the pool's (standalone,
   * Sentinel), the key's master's (Cluster), or none (Cluster, over several masters).
   */
  #classify(error: unknown, master?: CircuitBreaker): unknown {
    withoutCommandArguments(error);
    const unavailable = asUnavailable(error);
    const breaker = this.#masters === undefined ? this.#breaker : master;
    if (unavailable === undefined) {
      breaker?.release();
      if (breaker !== this.#breaker) this.#breaker.release();
      return error;
    }
    if (this.#masters !== undefined) this.#breaker.release();
    breaker?.commandFailed(error);
    return unavailable;
  }
}

function nothing(): void {}

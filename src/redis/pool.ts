import { withoutCommandArguments } from "./scrub.js";
import { EventEmitter } from "node:events";
import { createPool, type Pool } from "generic-pool";
import { Cluster, Redis, ReplyError, type RedisOptions } from "ioredis";
import { RedisConnectionError, RedisUnavailableError, RedisVersionError } from "../errors.js";
import { TUNABLES } from "../tunables.js";
import { CircuitBreaker, EventLoopStallWatch, type BreakerOptions, type BreakerState } from "./breaker.js";
import { addressOf, connectionError, isSelectFailure } from "./connect-failure.js";
import { corkForThisTick } from "./cork.js";
import { watchMasters } from "./master-watch.js";
import { MasterBreakers } from "./master-breakers.js";
import { REQUIRED_REDIS_VERSION, versionVerdict } from "./server-version.js";
import type { RedisTarget } from "./target.js";
import { SUBSCRIBER_OPTIONS, SubscriberLink, type ChannelListeners } from "./subscriber-link.js";

export type { RedisTarget };

export type RedisClient = Redis | Cluster;

/** What the store and the other modules need from Redis: the pool, or one client of the app's. */
export interface RedisSource {
  readonly isCluster: boolean;
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

export type { ChannelListeners };

/** Set a client up before use (define commands on it); must be safe to call again on the same client. */
export type PrepareClient = (client: RedisClient) => void;

export interface SourceListeners {
  connect(): void;
  disconnect(): void;
  /** Cluster: another set of masters than before (a failover, a reshard). */
  mastersChanged?(): void;
}

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

/** See `disconnectTimeout` in #createClient. */
const DISCONNECT_TIMEOUT_MS = 100;

/** Redis replies that mean "not now" rather than "wrong command". */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|UNBLOCKED)\b/;

/** Exponential backoff with "equal jitter": never 0 ms, never in lockstep with other processes. */
export function jitteredBackoff(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
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
  /** What ioredis last reported per client, so a failed connect can say why. */
  readonly #lastError = new WeakMap<RedisClient, Error>();
  /** A client that must not be used: its server refused the database asked for. */
  readonly #refused = new WeakMap<RedisClient, RedisConnectionError>();
  #opening: Promise<void> | undefined;
  #blocking: Promise<RedisClient> | undefined;
  /** The server's version, asked once per pool on its first connection (server-version.ts). */
  #versionChecked: Promise<void> | undefined;
  #probe: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;
  /** This process's own event-loop stalls: a command that timed out during one is not Redis's fault. */
  readonly #stalls = new EventLoopStallWatch();
  /** Every client made and not yet destroyed, for `prepare`. */
  readonly #made = new Set<RedisClient>();
  readonly #preparations = new Preparations();
  readonly #links = new Links();

  constructor(options: PoolOptions) {
    super();
    this.#options = options;
    this.#breaker = new CircuitBreaker(
      { ...TUNABLES.pool.breaker, ...options.breaker },
      (state: BreakerState) => {
        if (state === "open") {
          this.emit("disconnect");
          this.#scheduleProbe();
        } else if (state === "closed") this.emit("connect");
      },
      this.#stalls,
    );
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
        : connectionError(target, this.#causeOf(error), commandTimeoutMs);
    }
  }

  /**
   * Why Redis was last unusable, as a `RedisConnectionError` (host:port, reason), or
   * undefined when no connection reported an error (commands timed out).
   */
  get lastFailure(): RedisConnectionError | undefined {
    const last = this.#leases
      .map((c) => this.#refused.get(c) ?? this.#lastError.get(c))
      .find((e) => e !== undefined);
    return last && connectionError(this.#options.target, last, this.#options.commandTimeoutMs);
  }

  /** Close every connection. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#probe);
    this.#stalls.stop();
    await this.#links.close();
    await this.#opening?.catch(() => undefined);
    const blocking = await this.#blocking?.catch(() => undefined);
    if (blocking && blocking.status !== "end") await blocking.quit().catch(() => blocking.disconnect());
    for (const client of this.#leases.splice(0)) await this.#pool.release(client).catch(() => undefined);
    await this.#pool.drain();
    await this.#pool.clear();
  }

  /**
   * While the circuit is open, probe every `resetMs` until Redis takes a write again. Reconnects close
   * the circuit by themselves ("ready"); this covers a Redis that kept the connection but
   * stopped answering (CLIENT PAUSE, a long script, a network stall), where no event would
   * ever come — and express-session, told "disconnect", would never call the store again.
   */
  #scheduleProbe(): void {
    if (this.#probe || this.#closed) return;
    const { resetMs } = { ...TUNABLES.pool.breaker, ...this.#options.breaker };
    this.#probe = setTimeout(() => {
      this.#probe = undefined;
      if (this.#closed || this.#breaker.state === "closed") return;
      const client = this.#leases.find((c) => c.status === "ready");
      const probeKey = this.#options.probeKey ?? "rels:session:probe";
      const probe = client
        ? withDeadline(
            client.set(probeKey, String(Date.now()), "PX", resetMs),
            this.#options.commandTimeoutMs,
            "probing",
          )
        : Promise.reject(new Error("no connection"));
      probe.then(
        () => this.#breaker.success(),
        () => {
          this.#breaker.open();
          this.#scheduleProbe();
        },
      );
    }, resetMs);
    this.#probe.unref();
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
    const refused = this.#refused.get(ready);
    if (refused) throw refused;
    if (ready.status === "ready") return this.#verified(ready);
    // Fails at the first error ioredis reports (refused, unknown host, TLS, AUTH, SELECT), not
    // after the whole deadline; with none, the deadline's error names the last one seen.
    try {
      await withDeadline(readyOrFailure(ready), commandTimeoutMs, "connecting");
    } catch (error) {
      const reported = error instanceof RedisUnavailableError ? this.#lastError.get(ready) : (error as Error);
      throw this.#refused.get(ready) ?? connectionError(target, reported, commandTimeoutMs);
    }
    return this.#verified(ready);
  }

  /** A deadline's own error says nothing of why: the last error a connection reported does. */
  #causeOf(error: unknown): Error | undefined {
    if (!(error instanceof RedisUnavailableError)) return error as Error;
    return this.#leases.map((c) => this.#lastError.get(c)).find((e) => e !== undefined);
  }

  /**
   * `client`, once the server's version is known to do (asked once per pool). A server too
   * old is refused like a database it refuses: every connection closed, every call failing
   * with the `RedisVersionError`. An INFO refused by an ACL (NOPERM) skips the check. Calls
   * that find a connection ready before the answer (a burst at start-up) are not held back.
   */
  #verified(client: RedisClient): Promise<RedisClient> {
    this.#versionChecked ??= withDeadline(
      client.info("server"),
      this.#options.commandTimeoutMs,
      "INFO server",
    ).then(
      (info) => {
        const verdict = versionVerdict(info);
        if (verdict.supported) return;
        const error = new RedisVersionError(
          addressOf(this.#options.target),
          verdict.found,
          REQUIRED_REDIS_VERSION,
        );
        for (const lease of this.#leases) {
          this.#refused.set(lease, error);
          lease.disconnect();
        }
        throw error;
      },
      (error: unknown) => {
        if (error instanceof Error && /NOPERM/.test(error.message)) return;
        // Not an answer (the connection dropped, the deadline passed): asked again next time.
        this.#versionChecked = undefined;
        throw error;
      },
    );
    return this.#versionChecked.then(() => client);
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
    const { target, commandTimeoutMs } = this.#options;
    const { baseMs, maxMs } = this.#options.backoff ?? TUNABLES.pool.backoff;
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
      connectTimeout: this.#options.acquireTimeoutMs,
      retryStrategy,
      // How long a disconnect waits for the server to close the socket before destroying
      // it. ioredis arms this timer even for a socket already closed (a failed handshake
      // closes twice) and never unrefs it: with its 2 s default a CLI lingered 2 s on exit.
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    };
    let client: RedisClient;
    switch (target.kind) {
      case "url":
        client = new Redis(target.url, { ...shared, ...target.options });
        break;
      case "sentinel":
        client = new Redis({
          ...shared,
          sentinelRetryStrategy: retryStrategy,
          // Follow +switch-master at once instead of finding out from failed commands.
          failoverDetector: true,
          ...target.options,
          sentinels: [...target.sentinels],
          name: target.name,
        });
        break;
      case "cluster":
        client = new Cluster([...target.nodes], {
          enableOfflineQueue: false,
          clusterRetryStrategy: retryStrategy,
          ...target.options,
          redisOptions: { ...shared, ...target.options?.redisOptions },
        });
        watchMasters(client, () => this.emit("masters"));
        break;
    }
    this.#made.add(client);
    this.#preparations.apply(client);
    client.on("ready", () => {
      // ioredis reports a refused SELECT and then declares the connection ready in
      // database 0, where the CLI's `revoke --all` would act on another app's sessions.
      // Closed here rather than on the error: mid-handshake, ioredis would close it twice,
      // and each close of a closed socket arms a 2 s timer that keeps the process alive.
      if (this.#refused.has(client)) return client.disconnect();
      this.#lastError.delete(client);
      this.#breaker.success();
    });
    client.on("close", () => {
      if (!this.#closed) this.#breaker.open();
    });
    // ioredis logs unhandled "error" events to the console; the breaker and the typed
    // errors of each call are how failures surface instead, naming the last one seen.
    client.on("error", (error: Error) => {
      this.#lastError.set(client, withoutCommandArguments(error));
      // Reconnecting cannot help a database number the server refuses: the client is closed
      // once ready (below) and every call fails with this error.
      if (isSelectFailure(error) && !this.#refused.has(client))
        this.#refused.set(client, connectionError(target, error, commandTimeoutMs));
    });
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

/**
 * A client the app made itself (`new RelsRedisStore({ client })`): used as it is, with its
 * own options; only the errors are made typed and the connection events forwarded.
 */
export class ClientSource implements RedisSource {
  readonly #client: RedisClient;
  #blocking: RedisClient | undefined;
  readonly #links = new Links();

  constructor(client: RedisClient) {
    this.#client = client;
  }

  prepare(prepare: PrepareClient): void {
    preparationsOf(this.#client).add(prepare, [this.#client, ...(this.#blocking ? [this.#blocking] : [])]);
  }

  get isCluster(): boolean {
    return this.#client instanceof Cluster;
  }

  /** No async frame of its own: it is on every request's path. */
  run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    return runOn(this.#client, operation);
  }

  /**
   * On a duplicate of the app's client (same options), made on first use and closed by
   * `close()`: the app's own connection never waits behind a `WAIT`.
   */
  runBlocking<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    this.prepareBlocking();
    return runOn(this.#blocking!, operation);
  }

  prepareBlocking(): void {
    if (this.#blocking) return;
    const duplicate = this.#client.duplicate();
    preparationsOf(this.#client).apply(duplicate);
    this.#blocking = duplicate;
  }

  async masters(): Promise<Redis[]> {
    return mastersOf(this.#client);
  }

  /** On connections of its own, duplicates of the app's client (Cluster: of one of its masters). */
  listen(channel: string, listeners: ChannelListeners): () => Promise<void> {
    const { baseMs, maxMs } = TUNABLES.pool.backoff;
    return this.#links.add(
      new SubscriberLink(
        async () => subscriberOf(this.#client),
        channel,
        listeners,
        (attempt) => jitteredBackoff(attempt, baseMs, maxMs),
      ),
    );
  }

  subscribe(listeners: SourceListeners): () => void {
    let hub = hubs.get(this.#client);
    if (!hub) hubs.set(this.#client, (hub = new ClientEvents(this.#client)));
    return hub.add(listeners);
  }

  /** The app owns its client: closing the store leaves it open (the duplicate made for blocking operations is closed). */
  async close(): Promise<void> {
    await this.#links.close();
    const blocking = this.#blocking;
    this.#blocking = undefined;
    if (blocking && blocking.status !== "end") await blocking.quit().catch(() => blocking.disconnect());
  }
}

/** What each source keeps of `prepare`: the functions, applied to the clients given. */
class Preparations {
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

/** What was prepared on an app's client (once per client, however many stores share it), and on its duplicates. */
const preparedClients = new WeakMap<RedisClient, Preparations>();

function preparationsOf(client: RedisClient): Preparations {
  let preparations = preparedClients.get(client);
  if (!preparations) preparedClients.set(client, (preparations = new Preparations()));
  return preparations;
}
const hubs = new WeakMap<RedisClient, ClientEvents>();

/**
 * One `ready` and one `close` listener per app client, however many stores share it (no
 * MaxListenersExceededWarning), fanned out to the stores. Stores are held weakly: a store
 * the app drops without `close()` is collected, and its entry goes with it.
 */
class ClientEvents {
  readonly #client: RedisClient;
  readonly #subscribers = new Set<WeakRef<SourceListeners>>();
  readonly #onReady = () => this.#emit("connect");
  readonly #onClose = () => this.#emit("disconnect");
  #unwatch: (() => void) | undefined;
  readonly #collected = new FinalizationRegistry<WeakRef<SourceListeners>>((ref) => this.#remove(ref));

  constructor(client: RedisClient) {
    this.#client = client;
  }

  add(listeners: SourceListeners): () => void {
    if (this.#subscribers.size === 0) {
      this.#client.on("ready", this.#onReady);
      this.#client.on("close", this.#onClose);
      if (this.#client instanceof Cluster)
        this.#unwatch = watchMasters(this.#client, () => this.#emit("mastersChanged"));
    }
    const ref = new WeakRef(listeners);
    this.#subscribers.add(ref);
    this.#collected.register(listeners, ref, ref);
    return () => {
      this.#collected.unregister(ref);
      this.#remove(ref);
    };
  }

  #remove(ref: WeakRef<SourceListeners>): void {
    if (!this.#subscribers.delete(ref) || this.#subscribers.size > 0) return;
    this.#client.off("ready", this.#onReady);
    this.#client.off("close", this.#onClose);
    this.#unwatch?.();
  }

  #emit(event: keyof SourceListeners): void {
    for (const ref of this.#subscribers) ref.deref()?.[event]?.();
  }
}

function nothing(): void {}

/** A source's subscriber links, closed with it. */
class Links {
  readonly #open = new Set<SubscriberLink>();

  add(link: SubscriberLink): () => Promise<void> {
    this.#open.add(link);
    return () => {
      this.#open.delete(link);
      return link.close();
    };
  }

  async close(): Promise<void> {
    const links = [...this.#open];
    this.#open.clear();
    await Promise.all(links.map((link) => link.close()));
  }
}

/**
 * A new connection for a subscriber link, with `client`'s options: the same server (Sentinel:
 * the master the sentinels name now), or on Cluster one of the masters, picked at random.
 */
function subscriberOf(client: RedisClient): Redis {
  if (!(client instanceof Cluster)) return client.duplicate(SUBSCRIBER_OPTIONS);
  const masters = client.nodes("master");
  const node = masters[Math.floor(Math.random() * masters.length)];
  if (!node) throw new RedisUnavailableError("The Cluster client knows no master yet");
  return node.duplicate(SUBSCRIBER_OPTIONS);
}

/** An operation on an app's client: errors typed and scrubbed, no async frame of its own. */
function runOn<T>(client: RedisClient, operation: (client: RedisClient) => Promise<T>): Promise<T> {
  corkForThisTick(client);
  let pending: Promise<T>;
  try {
    pending = operation(client);
  } catch (error) {
    return Promise.reject(asUnavailable(withoutCommandArguments(error)) ?? error);
  }
  return pending.catch(rethrowAsUnavailable);
}

function mastersOf(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes("master") : [client];
}

/** The typed error for a failure that means "Redis is not reachable now"; undefined otherwise. */
function rethrowAsUnavailable(error: unknown): never {
  withoutCommandArguments(error);
  throw asUnavailable(error) ?? error;
}

function asUnavailable(error: unknown): RedisUnavailableError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof RedisUnavailableError) return error;
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test(error.message)) return undefined;
  // Our own bugs are not outages: they must not open the circuit or pass as one.
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError)
    return undefined;
  return new RedisUnavailableError(`Redis is unavailable: ${error.message}`, { cause: error });
}

/** One set of listeners per client however many calls wait for it (no MaxListenersExceededWarning). */
const readiness = new WeakMap<RedisClient, Promise<void>>();

/** Resolves when `client` is ready; rejects with the next error it reports, or when it ends. */
function readyOrFailure(client: RedisClient): Promise<void> {
  let ready = readiness.get(client);
  if (!ready) {
    ready = new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        client.off("ready", onReady);
        client.off("error", onError);
        client.off("end", onEnd);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => settle();
      const onError = (error: Error) => settle(error);
      const onEnd = () => settle(new Error("Connection closed, no reconnection"));
      client.on("ready", onReady);
      client.on("error", onError);
      client.on("end", onEnd);
    }).finally(() => readiness.delete(client));
    readiness.set(client, ready);
  }
  return ready;
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisUnavailableError(`Redis did not answer within ${ms} ms (${what})`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

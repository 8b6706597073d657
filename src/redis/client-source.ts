import { Cluster, type Redis } from "ioredis";
import { corkForThisTick } from "./cork.js";
import { watchMasters } from "./master-watch.js";
import { withoutCommandArguments } from "./scrub.js";
import {
  mastersOf,
  Preparations,
  type PrepareClient,
  type RedisClient,
  type RedisSource,
  type SourceListeners,
} from "./source.js";
import { asUnavailable, rethrowAsUnavailable } from "./unavailable.js";
import { jitteredBackoff } from "./deadlines.js";
import { SubscriberLink, SubscriberLinks, subscriberOf, type ChannelListeners } from "./subscriber-link.js";
import { TUNABLES } from "../tunables.js";

/**
 * A client the app made itself (`new RelsRedisStore({ client })`): used as it is, with its
 * own options; only the errors are made typed and the connection events forwarded.
 */
export class ClientSource implements RedisSource {
  readonly #client: RedisClient;
  #blocking: RedisClient | undefined;
  readonly #links = new SubscriberLinks();

  constructor(client: RedisClient) {
    this.#client = client;
  }

  prepare(prepare: PrepareClient): void {
    preparationsOf(this.#client).add(prepare, [this.#client, ...(this.#blocking ? [this.#blocking] : [])]);
  }

  get isCluster(): boolean {
    return this.#client instanceof Cluster;
  }

  get database(): number {
    return this.#client instanceof Cluster ? 0 : (this.#client.options.db ?? 0);
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

/** What was prepared on an app's client (once per client, however many stores share it), and on its duplicates. */
const preparedClients = new WeakMap<RedisClient, Preparations>();

export function preparationsOf(client: RedisClient): Preparations {
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

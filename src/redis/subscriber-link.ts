/**
 * One subscriber connection to one pub/sub channel, made again whenever it drops.
 *
 * Pub/sub is at-most-once: what is published while the connection is down is lost. So the
 * link tells its owner each time the channel is subscribed (the first time, and after every
 * new connection), and the owner re-checks what it may have missed (record/revocation-feed.ts).
 *
 * Each connection is new and never reconnects by itself (`retryStrategy` returns null): when
 * it ends, the link asks its source for another after a jittered backoff. On Cluster the next
 * one may go to another master (a classic `PUBLISH` reaches every node over the cluster bus),
 * so a master that is gone for good does not leave the link knocking at its port; on
 * Sentinel each new connection asks the sentinels where the master is now.
 */
import { Cluster, type Redis } from "ioredis";
import { RedisUnavailableError } from "../errors.js";

export interface ChannelListeners {
  /** A message published on the channel. */
  message(text: string): void;
  /** The channel is subscribed: the first time, and again on each new connection. */
  subscribed(): void;
  /**
   * The server refused the subscription for good (an ACL user without the channel's
   * permission, `NOPERM`): the link stops instead of asking again every few seconds.
   */
  refused(error: Error): void;
  /** The link stopped for good (its stop call, or its source's close): once. */
  closed?(): void;
}

/** A new connection of its own for the link (never one that serves commands). */
export type MakeSubscriber = () => Promise<Redis>;

/** The options of a link's connections: each one ends when it drops, and the link makes the next. */
export const SUBSCRIBER_OPTIONS = {
  retryStrategy: () => null,
  autoResubscribe: false,
  lazyConnect: false,
} as const;

export class SubscriberLink {
  readonly #make: MakeSubscriber;
  readonly #channel: string;
  readonly #listeners: ChannelListeners;
  readonly #backoff: (attempt: number) => number;
  #connection: Redis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;

  constructor(
    make: MakeSubscriber,
    channel: string,
    listeners: ChannelListeners,
    backoff: (attempt: number) => number,
  ) {
    this.#make = make;
    this.#channel = channel;
    this.#listeners = listeners;
    this.#backoff = backoff;
    void this.#open();
  }

  async #open(): Promise<void> {
    this.#timer = undefined;
    let connection: Redis;
    try {
      connection = await this.#make();
    } catch {
      this.#retry();
      return;
    }
    if (this.#closed) {
      end(connection);
      return;
    }
    this.#connection = connection;
    // Failures are told by "end" (then another connection is made), not by "error" events,
    // which ioredis would otherwise print.
    connection.on("error", () => undefined);
    connection.on("message", (channel: string, text: string) => {
      if (channel === this.#channel) this.#listeners.message(text);
    });
    connection.once("end", () => {
      if (this.#connection !== connection) return;
      this.#connection = undefined;
      this.#retry();
    });
    try {
      await readyOf(connection);
      await connection.subscribe(this.#channel);
    } catch (error) {
      if (error instanceof Error && /NOPERM/.test(error.message)) {
        this.#closed = true;
        this.#listeners.refused(error);
      }
      // Otherwise the "end" that follows makes the next connection.
      end(connection);
      return;
    }
    if (this.#closed || this.#connection !== connection) return;
    this.#attempt = 0;
    this.#listeners.subscribed();
  }

  #retry(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => void this.#open(), this.#backoff(this.#attempt++));
    this.#timer.unref();
  }

  /** Stop for good: no more messages, no new connection. */
  async close(): Promise<void> {
    const first = !this.#closed;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (first) this.#listeners.closed?.();
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection && connection.status !== "end") await connection.quit().catch(() => end(connection));
  }
}

/** A source's subscriber links, closed with it. */
export class SubscriberLinks {
  readonly #open = new Set<SubscriberLink>();

  /** Keep `link` until the returned call (or `close()`) stops it. */
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
export function subscriberOf(client: Redis | Cluster): Redis {
  if (!(client instanceof Cluster)) return client.duplicate(SUBSCRIBER_OPTIONS);
  const masters = client.nodes("master");
  const node = masters[Math.floor(Math.random() * masters.length)];
  if (!node) throw new RedisUnavailableError("The Cluster client knows no master yet");
  return node.duplicate(SUBSCRIBER_OPTIONS);
}

/** Resolves once `connection` is ready; rejects if it ends first. */
function readyOf(connection: Redis): Promise<void> {
  if (connection.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      connection.off("end", onEnd);
      resolve();
    };
    const onEnd = () => {
      connection.off("ready", onReady);
      reject(new Error("The subscriber connection ended before it was ready"));
    };
    connection.once("ready", onReady);
    connection.once("end", onEnd);
  });
}

/** ioredis arms a 2 s timer when a closed socket is disconnected again (see pool.ts): only an open one is. */
function end(connection: Redis): void {
  if (connection.status !== "end") connection.disconnect();
}

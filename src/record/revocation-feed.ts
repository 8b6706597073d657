/**
 * Revocation events: what every revocation announces, and one subscriber per store that hears
 * them and closes the connections tied to revoked sessions.
 *
 * Each revocation publishes from its own script (record/scripts.ts, `announce`), in the step
 * that deletes the record and leaves its marker: no revocation without its event, no event
 * without its revocation. The message is `1 \t reason \t hex \t index \t bucket`: the private
 * hex (what keys already hold, never the sid) and the index and bucket keys the record's
 * header names, from which the owner's user id and application are read back. `store.clear()`
 * announces `1 \t clear` once for every session of the scope.
 *
 * Delivery is Redis pub/sub's, at most once: a subscriber that is disconnected when a session
 * is revoked misses its event. So each time the channel is subscribed again (on every new
 * connection, the first included) every watched session is checked (`EXISTS`, one round
 * trip) and the connections of those gone are closed: a missed revocation still closes its
 * connections, one reconnection later. Listeners of `onRevoked` get no such replay.
 */
import { sessionHandle } from "../ids.js";
import type { RevocationReason, SessionRecords } from "./records.js";
import { LifetimeSweep } from "./lifetime-sweep.js";

export type { RevocationReason };

/** A session's revocation, as `onRevoked` listeners receive it. */
export interface SessionRevokedEvent {
  readonly reason: Exclude<RevocationReason, "clear">;
  /** The session's handle (`SessionMeta.sessionId`): what the account page shows and the revoke calls take. */
  readonly sessionId: string;
  /** Whose session it was; undefined for a session no one signed into. */
  readonly userId: string | undefined;
  /** The application it was signed into; undefined for a session no one signed into. */
  readonly applicationName: string | undefined;
}

/** `store.clear()`: every session of the store's scope was revoked (one event, not one per session). */
export interface SessionsClearedEvent {
  readonly reason: "clear";
}

export type RevocationEvent = SessionRevokedEvent | SessionsClearedEvent;

/** May be async (an async function is a `void` one to TypeScript): a rejection is reported as a throw is. */
export type RevocationListener = (event: RevocationEvent) => void;

/**
 * Why a watched connection's session ended: its revocation's reason, or `"gone"`, found
 * missing when the subscriber connected again (a revocation it missed, or the session's expiry).
 */
export type SessionEndReason = RevocationReason | "gone";

type Closer = (reason: SessionEndReason) => void;

const REASONS: ReadonlySet<string> = new Set<RevocationReason>([
  "destroy",
  "logout",
  "cap",
  "clear",
  "cli",
  "lifetime",
]);

/** A decoded message: the event, and the private hex of its session (none for "clear"). */
interface Heard {
  readonly event: RevocationEvent;
  readonly hex: string | undefined;
}

/**
 * The revocation channel of one store's scope: made by its data layer on the first listener or
 * watched connection (one subscriber connection, closed with the store's source).
 */
export class RevocationFeed {
  readonly #records: SessionRecords;
  readonly #listeners = new Map<RevocationListener, (error: unknown) => void>();
  /** Private hex → what closes each connection tied to that session. */
  readonly #watched = new Map<string, Set<Closer>>();
  #stop: (() => Promise<void>) | undefined;
  #subscribed: Promise<void> | undefined;
  #markSubscribed: (() => void) | undefined;
  /** Subscribed at least once: a session watched from now on is looked up once (see `watch`). */
  #heard = false;
  /** Sessions watched since the last look-up, checked together on the next turn. */
  readonly #unchecked = new Set<string>();
  /**
   * Sessions past their absolute deadline revoked (and so announced) even when nobody reads
   * them: swept while this store has a subscriber, since without one nobody is told.
   */
  readonly #sweep: LifetimeSweep;

  constructor(records: SessionRecords) {
    this.#records = records;
    this.#sweep = new LifetimeSweep(records);
  }

  /** The lifetime sweep this feed runs (tests sweep at once instead of waiting for it). */
  get lifetimeSweep(): LifetimeSweep {
    return this.#sweep;
  }

  /** Call `listener` on every revocation event; `report` is told of what it throws. */
  listen(listener: RevocationListener, report: (error: unknown) => void): () => void {
    // The same function twice is one listener with its own unsubscribe (a Map key).
    const wrapped: RevocationListener = (event) => listener(event);
    this.#listeners.set(wrapped, report);
    this.#start();
    return () => void this.#listeners.delete(wrapped);
  }

  /** Call `close` once when the session `hex` is revoked (or found gone after a reconnection). */
  watch(hex: string, close: Closer): () => void {
    let closers = this.#watched.get(hex);
    if (!closers) this.#watched.set(hex, (closers = new Set()));
    const once: Closer = (reason) => {
      unwatch();
      close(reason);
    };
    const unwatch = () => {
      closers.delete(once);
      if (closers.size === 0 && this.#watched.get(hex) === closers) this.#watched.delete(hex);
    };
    closers.add(once);
    this.#start();
    // Its revocation may have been published between the request's read and this call: looked
    // up once (one EXISTS, with the others watched in the same turn). Before the first
    // subscription, that subscription's re-check does it.
    if (this.#heard) this.#checkSoon(hex);
    return unwatch;
  }

  #checkSoon(hex: string): void {
    if (this.#unchecked.size === 0) {
      setImmediate(() => {
        const hexes = [...this.#unchecked];
        this.#unchecked.clear();
        void this.#closeGone(hexes);
      });
    }
    this.#unchecked.add(hex);
  }

  /** How many sessions have a connection watched (tests, the demo). */
  get watchedSessions(): number {
    return this.#watched.size;
  }

  /** Resolves once the channel was first subscribed (tests wait for it before revoking). */
  subscribed(): Promise<void> {
    this.#start();
    return this.#subscribed!;
  }

  #start(): void {
    if (this.#stop) return;
    this.#subscribed = new Promise((resolve) => (this.#markSubscribed = resolve));
    this.#sweep.start();
    this.#stop = this.#records.source.listen(this.#records.revocationChannel, {
      message: (text) => this.#deliver(text),
      subscribed: () => {
        this.#heard = true;
        this.#markSubscribed?.();
        void this.#recheck();
      },
      closed: () => this.#sweep.stop(),
      refused: (error) => {
        this.#sweep.stop();
        process.emitWarning(
          `rels-session: Redis refused the subscription to revocation events (${error.message}); ` +
            "onRevoked listeners and closeOnRevoke get no events. Grant the ACL user the channel " +
            `${this.#records.revocationChannel} (docs/revocation-events.md)`,
          { code: "RELS_SESSION_REVOCATION_EVENTS_REFUSED" },
        );
      },
    });
  }

  #deliver(text: string): void {
    const heard = this.#decode(text);
    if (!heard) return;
    for (const [listener, reportError] of this.#listeners) {
      // A logger that throws neither stops the other listeners nor the closing of connections.
      const report = (error: unknown) => {
        try {
          reportError(error);
        } catch {
          // nowhere left to report it
        }
      };
      try {
        // An async listener (assignable to one returning void) that rejects is reported as one
        // that throws: unhandled, its rejection would end the process.
        const result: unknown = listener(heard.event);
        if (isPromiseLike(result)) result.then(undefined, report);
      } catch (error) {
        report(error);
      }
    }
    const closers =
      heard.hex === undefined ? [...this.#watched.values()] : [this.#watched.get(heard.hex) ?? new Set()];
    for (const set of closers) for (const close of [...set]) closeQuietly(close, heard.event.reason);
  }

  /**
   * The channel is subscribed again: a revocation published while it was not is lost, so
   * every watched session is looked up (one round trip) and the connections of those gone
   * are closed. A failed lookup waits for the next connection.
   */
  #recheck(): Promise<void> {
    return this.#closeGone([...this.#watched.keys()]);
  }

  /** Close the connections of those of `hexes` that no longer exist (a failed look-up closes none). */
  async #closeGone(hexes: readonly string[]): Promise<void> {
    if (hexes.length === 0) return;
    const alive = await this.#records.existing(hexes).catch(() => undefined);
    if (!alive) return;
    hexes.forEach((hex, i) => {
      if (alive[i]) return;
      for (const close of [...(this.#watched.get(hex) ?? [])]) closeQuietly(close, "gone");
    });
  }

  #decode(text: string): Heard | undefined {
    const [version, reason, hex, index, bucket] = text.split("\t");
    if (version !== "1" || reason === undefined || !REASONS.has(reason)) return undefined;
    if (reason === "clear") return { event: { reason: "clear" }, hex: undefined };
    if (hex === undefined || !/^[0-9a-f]{64}$/.test(hex)) return undefined;
    const link = index ? this.#records.keys.linkOfFiling(index, bucket ?? "") : undefined;
    return {
      hex,
      event: {
        reason: reason as SessionRevokedEvent["reason"],
        sessionId: sessionHandle(hex),
        userId: link?.userId,
        applicationName: link?.applicationName,
      },
    };
  }

  /** Stop listening (the source closes the connection with itself anyway). */
  async close(): Promise<void> {
    const stop = this.#stop;
    this.#stop = undefined;
    this.#sweep.stop();
    await stop?.();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" && value !== null && typeof (value as PromiseLike<unknown>).then === "function"
  );
}

/** One connection's closing failing must not keep the others open. */
function closeQuietly(close: Closer, reason: SessionEndReason): void {
  try {
    close(reason);
  } catch {
    // a connection already torn down
  }
}

import { decodeSessionMeta, type SessionMeta } from "./meta.js";
import { sessionHandle } from "./ids.js";
import { NEVER_EXPIRES_MS } from "./keys.js";
import type { RelsRedisStore } from "./store.js";

/** A user, as the app names them: an id, or an object with one. */
export type UserRef = string | number | { readonly id: string | number };

export function userIdOf(user: UserRef): string {
  const id = typeof user === "object" && user !== null ? user.id : user;
  if ((typeof id !== "string" && typeof id !== "number") || String(id) === "") {
    throw new TypeError("A user must be a non-empty id (string or number) or an object with one in `id`");
  }
  return String(id);
}

/** One entry of a user's index: a session's private hex and when it expires. */
export interface IndexEntry {
  readonly hex: string;
  readonly expiresAt: Date;
}

/** An indexed session with its metadata. */
export interface IndexedSession extends IndexEntry {
  readonly meta: SessionMeta;
}

/**
 * The per-user index: a sorted set of a user's session private ids scored by expiry, so
 * listing a user's sessions never scans Redis. The store keeps it in step on every write,
 * touch and destroy; reading prunes what expired, and what a crash on Cluster left behind.
 */
export class UserSessions {
  readonly #store: RelsRedisStore;

  constructor(store: RelsRedisStore) {
    this.#store = store;
  }

  /** The user's live sessions, expired entries pruned on the way (one round trip). */
  list(user: UserRef): Promise<IndexEntry[]>;
  /** The same, streamed a page (`scanCount` entries) at a time. */
  list(user: UserRef, options: { stream: true }): AsyncGenerator<IndexEntry>;
  list(user: UserRef, options?: { stream: true }): Promise<IndexEntry[]> | AsyncGenerator<IndexEntry> {
    return options?.stream ? this.#stream(userIdOf(user)) : this.#all(userIdOf(user));
  }

  /** Index a session directly (the store does this itself on every authenticated write). */
  async add(user: UserRef, hex: string, expiresAt: Date): Promise<void> {
    const index = this.#store.keys.userIndex(userIdOf(user));
    await this.#store.source.run((c) => c.relsIndexLink(index, "put", hex, expiresAt.getTime(), Date.now()));
  }

  async remove(user: UserRef, hexes: readonly string[]): Promise<number> {
    if (hexes.length === 0) return 0;
    const index = this.#store.keys.userIndex(userIdOf(user));
    return this.#store.source.run((c) => c.zrem(index, ...hexes));
  }

  /** Drop the whole index (sessions themselves are left alone: see `logoutAllSessions`). */
  async removeAll(user: UserRef): Promise<void> {
    const index = this.#store.keys.userIndex(userIdOf(user));
    await this.#store.source.run((c) => c.del(index));
  }

  /**
   * The user's sessions with their metadata: two round trips for any number of sessions.
   * An entry whose session is gone, or now belongs to someone else, is pruned.
   */
  async sessions(user: UserRef): Promise<IndexedSession[]> {
    const userId = userIdOf(user);
    const entries = await this.#all(userId);
    const records = await this.#store.readMeta(entries.map((e) => e.hex));
    const index = this.#store.keys.userIndex(userId);
    const live: IndexedSession[] = [];
    const stale: string[] = [];
    entries.forEach((entry, i) => {
      const record = records[i];
      const meta =
        record && record.index === index
          ? decodeSessionMeta(record.meta, { sessionId: sessionHandle(entry.hex), userId, expiresAt: entry.expiresAt })
          : null;
      if (meta === null) stale.push(entry.hex);
      // The index score follows every touch; the stored `expiresAt` only the last write.
      else live.push({ ...entry, meta: { ...meta, expiresAt: entry.expiresAt } });
    });
    if (stale.length > 0) await this.remove(userId, stale);
    return live;
  }

  async #all(userId: string): Promise<IndexEntry[]> {
    const index = this.#store.keys.userIndex(userId);
    const flat = await this.#store.source.run((c) => c.relsIndexRange(index, Date.now()));
    return pairs(flat);
  }

  async *#stream(userId: string): AsyncGenerator<IndexEntry> {
    const index = this.#store.keys.userIndex(userId);
    const page = this.#store.scanCount;
    for (let offset = 0; ; offset += page) {
      const flat = await this.#store.source.run((c) =>
        c.zrangebyscore(index, Date.now(), "+inf", "WITHSCORES", "LIMIT", offset, page),
      );
      yield* pairs(flat);
      if (flat.length < page * 2) return;
    }
  }
}

function pairs(flat: readonly string[]): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const score = Number(flat[i + 1]);
    out.push({ hex: flat[i]!, expiresAt: new Date(Number.isFinite(score) ? score : NEVER_EXPIRES_MS) });
  }
  return out;
}

import { decodeSessionMeta } from "./meta-codec.js";
import type { SessionMeta } from "./meta-schema.js";
import { sessionHandle } from "../ids.js";
import { NEVER_EXPIRES_MS } from "../record/keys.js";
import { CORRUPT, type IndexEntry, type SessionRecords, type StoredRecord } from "../record/records.js";
import type { DataLayer } from "../record/data-layer.js";
import { dataLayerOf, type DataLayerStore } from "../record/of-store.js";
import { TUNABLES } from "../tunables.js";

/** A user, as the app names them: an id, or an object with one. */
export type UserRef = string | number | { readonly id: string | number };

/** User ids longer than this are refused: they go into key names. */
const MAX_USER_ID_LENGTH = 512;

export function userIdOf(user: UserRef): string {
  const id = typeof user === "object" && user !== null ? user.id : user;
  if (
    (typeof id !== "string" && typeof id !== "number") ||
    String(id) === "" ||
    String(id).length > MAX_USER_ID_LENGTH
  ) {
    throw new TypeError(
      `A user must be a non-empty id (string or number, at most ${MAX_USER_ID_LENGTH} characters) or an object with one in \`id\``,
    );
  }
  return String(id);
}

export type { IndexEntry };

/** An indexed session with its metadata. */
export interface IndexedSession extends IndexEntry {
  readonly meta: SessionMeta;
}

/** One page of a user's sessions, and where the next one starts (undefined: the last page). */
export interface SessionsPage {
  readonly sessions: IndexedSession[];
  readonly nextCursor: string | undefined;
}

/**
 * The per-user index: a sorted set of a user's session private ids scored by the expiry
 * they are filed under, so listing a user's sessions never scans Redis. The data layer keeps
 * it in step on every write, touch and destroy; reading prunes what expired, and entries a
 * crash or a race on Cluster left behind.
 */
export class UserSessions {
  readonly #layer: DataLayer;
  readonly #records: SessionRecords;

  constructor(store: DataLayerStore) {
    this.#layer = dataLayerOf(store);
    this.#records = this.#layer.records;
  }

  /** The user's live sessions, latest expiry first, expired entries pruned on the way (one round trip). */
  list(user: UserRef): Promise<IndexEntry[]>;
  /** The same, streamed a page (`scanCount` entries) at a time. */
  list(user: UserRef, options: { stream: true }): AsyncGenerator<IndexEntry>;
  list(user: UserRef, options?: { stream: true }): Promise<IndexEntry[]> | AsyncGenerator<IndexEntry> {
    const userId = userIdOf(user);
    return options?.stream ? this.#stream(userId) : this.#records.indexPage(userId);
  }

  /**
   * One page of the user's sessions with their metadata, latest expiry first (for sessions
   * of one lifetime: most recently active first): two round trips. An entry whose session is
   * gone, or is now filed under someone else, is pruned and left out.
   */
  async page(user: UserRef, options: { limit?: number; cursor?: string } = {}): Promise<SessionsPage> {
    const userId = userIdOf(user);
    const limit = Math.max(1, Math.floor(options.limit ?? TUNABLES.users.indexPageSize));
    const offset = decodeCursor(options.cursor);
    const entries = await this.#records.indexPage(userId, offset, limit);
    const sessions = await this.#withMeta(userId, entries);
    // Pruned entries left the index, shifting later ones down: the next page starts after
    // the live ones only.
    return {
      sessions,
      nextCursor: entries.length < limit ? undefined : encodeCursor(offset + sessions.length),
    };
  }

  /** Every session of the user with its metadata, a page at a time. */
  async sessions(user: UserRef): Promise<IndexedSession[]> {
    const out: IndexedSession[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.page(user, cursor === undefined ? {} : { cursor });
      out.push(...page.sessions);
      cursor = page.nextCursor;
      // Let other requests run between pages: one account's many sessions must not hold
      // the event loop for the whole listing.
      if (cursor !== undefined) await new Promise((resolve) => setImmediate(resolve));
    } while (cursor !== undefined);
    return out;
  }

  async #withMeta(userId: string, entries: readonly IndexEntry[]): Promise<IndexedSession[]> {
    const records = await this.#records.readMany(entries.map((e) => e.hex));
    const live: IndexedSession[] = [];
    const stale: string[] = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const record = records[i];
      // Stale: the session is gone, is not a record, or is filed under someone else. A
      // record this process cannot decode (say, MessagePack without msgpackr) is left out
      // of the list but keeps its entry, so the user can still revoke it.
      if (!record || record === CORRUPT || !this.#records.isFiledUnder(record, userId)) {
        stale.push(entry.hex);
        continue;
      }
      const meta = await this.#metaOf(userId, entry, record);
      if (meta !== null) live.push({ hex: entry.hex, expiresAt: meta.expiresAt, meta });
    }
    await this.#records.dropIndexEntries(userId, stale);
    return live;
  }

  async #metaOf(userId: string, entry: IndexEntry, record: StoredRecord) {
    // Layout 4: the metadata section alone, the payload never parsed.
    const stored = await this.#layer.storedMeta(entry.hex, record);
    if (stored === null) return null;
    // The header's expiry follows every touch; the metadata's only the last write.
    const expiresAt = new Date(record.header.expiresAt ?? NEVER_EXPIRES_MS);
    const meta = decodeSessionMeta(stored, {
      sessionId: sessionHandle(entry.hex),
      userId,
      expiresAt,
    });
    return meta && meta.userId === userId ? { ...meta, expiresAt } : null;
  }

  async *#stream(userId: string): AsyncGenerator<IndexEntry> {
    const page = this.#records.scanCount;
    for (let offset = 0; ; offset += page) {
      const entries = await this.#records.indexPage(userId, offset, page);
      yield* entries;
      if (entries.length < page) return;
    }
  }
}

function encodeCursor(offset: number): string {
  return offset.toString(36);
}

function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const offset = Number.parseInt(cursor, 36);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset.toString(36) !== cursor) {
    throw new TypeError("Invalid cursor: pass back the nextCursor of the previous page");
  }
  return offset;
}

import { SerializerUnavailableError } from "../../errors.js";
import type { Logger } from "../../types.js";
import { CORRUPT, type ReadResult } from "../records.js";
import type { SessionData } from "../session-data.js";
import type { Serializer } from "./serializer.js";
import { isSessionShaped } from "./session-shape.js";

/** A record as `SessionRecords` reads it (a miss excluded). */
export type FoundRecord = Exclude<ReadResult, null>;

/**
 * Sessions to payloads and back: the store's serializer (json, msgpack, a connect-redis
 * shape; deflate and the size cap inside it) and express-session's shape of a session.
 */
export class SessionCodec {
  readonly serializer: Serializer;
  readonly #logger: Logger | undefined;
  #warnedUnreadable = false;

  constructor(serializer: Serializer, logger: Logger | undefined) {
    this.serializer = serializer;
    this.#logger = logger;
  }

  /** The payload of `session`; over `maxPayloadBytes` it throws `SessionPayloadTooLargeError`. */
  encode(session: SessionData): string | Buffer {
    return this.serializer.stringify(session);
  }

  /**
   * The session a record holds; null when this process cannot read its format (left in
   * place); a string, the reason, when it is corrupt (the caller removes it).
   */
  decode(record: FoundRecord): SessionData | null | string {
    if (record === CORRUPT) return "not a session record";
    let value: unknown;
    try {
      value = this.serializer.parse(record.payload);
    } catch (error) {
      if (!(error instanceof SerializerUnavailableError)) return "unreadable payload";
      this.#warnUnreadable();
      return null;
    }
    // A touch extends the expiry in the header, not the payload: the session reports the one
    // Redis holds, as MemoryStore does.
    return isSessionShaped(value, record.header.expiresAt) ? value : "unreadable payload";
  }

  /** A plain-sid copy (migration), read with the old store's serializer; null when unreadable. */
  decodeLegacy(raw: string | Buffer, serializer: Serializer): SessionData | null {
    try {
      const value = serializer.parse(raw);
      return isSessionShaped(value) ? value : null;
    } catch {
      return null;
    }
  }

  #warnUnreadable(): void {
    if (this.#warnedUnreadable) return;
    this.#warnedUnreadable = true;
    this.#logger?.warn(
      { reason: "msgpackr is not installed" },
      "rels-session: a session stored as MessagePack cannot be read by this process; treated as a miss, left in place",
    );
  }
}

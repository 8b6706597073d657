import { sessionHandle } from "../ids.js";
import type { Logger } from "../types.js";
import type { SessionCodec, FoundRecord } from "./codec/session-codec.js";
import type { SessionRecords } from "./records.js";
import type { SessionData } from "./session-data.js";

/**
 * The data layer of one store: its records (every Redis command) and its codec (payload ↔
 * session). The store, the manager, the index, the stats, the stream and the CLI all work
 * on this; none of them reaches another's internals.
 */
export class DataLayer {
  readonly records: SessionRecords;
  readonly codec: SessionCodec;
  readonly #logger: Logger | undefined;
  readonly #forget: (hex: string) => void;

  /** `forget`: told of each session removed here as corrupt (the store drops what it read of it). */
  constructor(records: SessionRecords, codec: SessionCodec, logger: Logger | undefined, forget: (hex: string) => void = () => {}) {
    this.records = records;
    this.codec = codec;
    this.#logger = logger;
    this.#forget = forget;
  }

  /** The session a record holds, or null for a miss. A corrupt record is removed. */
  async decodeStored(hex: string, record: FoundRecord): Promise<SessionData | null> {
    const session = this.codec.decode(record);
    return typeof session === "string" ? this.discard(hex, session) : session;
  }

  /** A corrupt session is a miss: logged once (it is removed, leaving no revocation marker), never thrown at the request. */
  async discard(hex: string, reason: string): Promise<null> {
    this.#logger?.warn({ session: sessionHandle(hex), reason }, "rels-session: removed a corrupt session");
    this.#forget(hex);
    await this.records.destroy([hex], { revoke: false }).catch(() => undefined);
    return null;
  }
}

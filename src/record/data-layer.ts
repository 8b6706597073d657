import { sessionHandle } from "../ids.js";
import type { Logger } from "../types.js";
import type { SessionCodec, FoundRecord } from "./codec/session-codec.js";
import type { SessionRecords } from "./records.js";
import type { SessionData } from "./session-data.js";
import type { StoredRecord } from "./format.js";
import { deadlineOfMeta, linkOfMeta, type SessionLink } from "./link.js";
import { CORRUPT } from "./records.js";
import {
  fieldMeta,
  ownMeta,
  metaData,
  metaOfSection,
  metaSection,
  takeMetaField,
  type MetaValue,
} from "./meta-section.js";
import { RevocationFeed } from "./revocation-feed.js";

/** What a save writes: the payload, the metadata section (layout 4), and where the session is filed. */
export interface EncodedWrite {
  readonly payload: string | Buffer;
  /** The metadata section's text; undefined for layout 3 (the metadata is the payload's `_rels`). */
  readonly section: string | undefined;
  readonly link: SessionLink | undefined;
  /** The absolute deadline the metadata decides (`absoluteExpiresAt`; 0: none). */
  readonly deadline: number;
  /** The metadata as data; undefined when it was not parsed (unchanged metadata of layout 4). */
  readonly data: unknown;
}

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
  readonly #metaOf: (sid: string, session: object) => MetaValue | undefined;
  /**
   * The record layout the store writes: 3 cannot hold a session's absolute deadline, so a
   * manager with lifetime profiles refuses a store that writes it.
   */
  readonly recordLayout: 3 | 4;
  #revocations: RevocationFeed | undefined;

  /** `forget`: told of each session removed here as corrupt (the store drops what it read of it). */
  constructor(
    records: SessionRecords,
    codec: SessionCodec,
    logger: Logger | undefined,
    forget: (hex: string) => void = () => {},
    metaOf: (sid: string, session: object) => MetaValue | undefined = (_sid, session) => ownMeta(session),
    recordLayout: 3 | 4 = 4,
  ) {
    this.recordLayout = recordLayout;
    this.#metaOf = metaOf;
    this.records = records;
    this.codec = codec;
    this.#logger = logger;
    this.#forget = forget;
  }

  /**
   * The store's revocation events (record/revocation-feed.ts): made on first use, so a store
   * nobody listens to opens no subscriber connection.
   */
  get revocations(): RevocationFeed {
    return (this.#revocations ??= new RevocationFeed(this.records));
  }

  /**
   * The metadata of a request's session (`sid`): set on the object, else what the store read
   * for it (a framework's copy: by private hex); undefined when not known.
   */
  sessionMeta(sid: string, session: object): MetaValue | undefined {
    return this.#metaOf(sid, session);
  }

  /**
   * A stored record's metadata as data, for listings: layout 4's section, never the payload;
   * layouts 2 and 3 decode the payload (a corrupt one is removed). Null: none.
   */
  async storedMeta(hex: string, record: StoredRecord): Promise<unknown> {
    if (record.meta !== undefined) return metaData(metaOfSection(record.meta));
    const session = await this.decodeStored(hex, record);
    return session ? metaData(fieldMeta(session) ?? null) : null;
  }

  /**
   * What a save writes of `bare` (the session without its `_rels` field) and its metadata:
   * layout 4 keeps the metadata in its section, layout 3 in the payload's `_rels`. `known`:
   * the link of `meta`, already worked out (unchanged metadata of layout 4 is then written
   * back as the text read, parsing nothing). Over `maxPayloadBytes` the serializer throws
   * `SessionPayloadTooLargeError`: nothing is written.
   */
  encodeWrite(
    bare: SessionData,
    meta: MetaValue | undefined,
    layout: 3 | 4,
    known: { link?: SessionLink | undefined; deadline: number } | undefined,
  ): EncodedWrite {
    const layout4 = layout === 4;
    const data = layout4 && known ? undefined : metaData(meta);
    const payload = this.codec.encode(
      layout4 || data === null ? bare : ({ ...bare, _rels: data } as SessionData),
    );
    const section = layout4 ? metaSection(meta ?? null) : undefined;
    const link = known ? known.link : linkOfMeta(data);
    const deadline = known ? known.deadline : deadlineOfMeta(data);
    return { payload, section, link, deadline, data };
  }

  /**
   * The metadata a stored record holds, as a session keeps it (the section's text, or layout
   * 3's `_rels`); null for none, a miss, or a record that cannot be decoded (left in place).
   */
  recordMeta(record: FoundRecord | null): MetaValue {
    if (record === null || record === CORRUPT) return null;
    if (record.meta !== undefined) return metaOfSection(record.meta);
    const stored = this.codec.decode(record);
    return stored !== null && typeof stored === "object" ? (fieldMeta(stored) ?? null) : null;
  }

  /** A stored session for a listing: never with its metadata (layouts 2 and 3 keep it in the payload). */
  async decodeListed(hex: string, record: FoundRecord): Promise<SessionData | null> {
    const session = await this.decodeStored(hex, record);
    if (session && record !== CORRUPT && record.meta === undefined) takeMetaField(session);
    return session;
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

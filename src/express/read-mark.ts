import { privateHex } from "../ids.js";
import type { RecordHeader } from "../record/records.js";
import type { SessionLink } from "../record/link.js";
import { ownMeta, type MetaValue } from "../record/meta-section.js";
import { TwoGenerationCache } from "../two-generation-cache.js";

/** What the read (or the last write) of a session learnt, kept beside it (and beside the `req.session` built from it). */
export interface Loaded {
  /** The sid it was read for, and its private hex: a later write of the same sid needs no second hash. */
  readonly sid: string;
  readonly hex: string;
  /** The record's header: its expiry (for the touch throttle) and where it is filed. */
  readonly header: RecordHeader | undefined;
  /** Read from a plain-sid key: the next write or touch moves it. */
  readonly legacy: boolean;
  /** Read from layout 2 (a hash): the next write, a script, moves it. */
  readonly layout2?: boolean;
  /** The store that read it: an object read from one store and saved to another is new there. */
  readonly store: object;
  /** The session's metadata as read (or written): a save that did not change it writes it back as it is. */
  readonly meta: MetaValue;
  /** The link `meta` decides, once worked out (a save of unchanged metadata parses nothing). */
  link?: SessionLink | undefined;
}

/** Base whose constructor returns the object given, so a subclass's private field lands on that object. */
class PrivateFieldsOn {
  constructor(target: object) {
    return target;
  }
}

/**
 * What a read learnt, carried as a private field on the session object itself: invisible to
 * reflection, spreads, JSON and structuredClone, like a WeakMap entry, but without the
 * WeakMap's cost on every read (its ephemeron table, set, and weighed at every scavenge).
 */
export class ReadMark extends PrivateFieldsOn {
  #info: Loaded;

  private constructor(target: object, info: Loaded) {
    super(target);
    this.#info = info;
  }

  /** What the read of `session` learnt, if this process read it (anything may be passed: `set` takes what it is given). */
  static of(session: unknown): Loaded | undefined {
    return typeof session === "object" && session !== null && #info in session
      ? (session as ReadMark).#info
      : undefined;
  }

  static put(session: object, info: Loaded): void {
    if (#info in session) (session as ReadMark).#info = info;
    else new ReadMark(session, info);
  }
}

/**
 * Reads remembered by private hex, for frameworks that rebuild the session object they got
 * from `get` (Fastify's session copies it key by key): the header of the same record, found
 * by the sid saved, so a copy's save takes the one-command path and its touch is throttled.
 * A cache, never a guard: a copy it does not know is judged by Redis (the write script and
 * the session's revocation marker), at the cost of a script call.
 */
const RECENT_READS_MAX = 10_000;

/** What one store's reads learnt: on each session object (`ReadMark`), and by private hex (recent reads). */
export class StoreReads {
  readonly #store: object;
  readonly #recent = new TwoGenerationCache<string, Loaded>(RECENT_READS_MAX);

  /** `store`: the store whose reads these are (`Loaded.store`). */
  constructor(store: object) {
    this.#store = store;
  }

  /** Remember what the read of `session` learnt (see `Loaded` and `RECENT_READS_MAX`). */
  remember(session: object, info: Loaded): void {
    ReadMark.put(session, info);
    this.#recent.set(info.hex, info);
  }

  /** The private hex of `sid`, and what the read of the session saved as `sid` learnt, if this process read it. */
  lookup(sid: string, session: object): { hex: string; info: Loaded | undefined } {
    const info = ReadMark.of(session);
    if (info?.sid === sid && info.store === this.#store) return { hex: info.hex, info };
    const hex = privateHex(sid);
    const recent = this.#recent.get(hex);
    return { hex, info: recent?.sid === sid ? recent : undefined };
  }

  /** What a request's session holds as metadata: set on it, else what was read for it (see `StoreWrites#save`). */
  metaOf(sid: string, session: object): MetaValue | undefined {
    const own = ownMeta(session);
    if (own !== undefined) return own;
    return this.lookup(sid, session).info?.meta;
  }

  forget(hex: string): void {
    this.#recent.delete(hex);
  }

  clear(): void {
    this.#recent.clear();
  }
}

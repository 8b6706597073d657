import { privateHex } from "../ids.js";
import type { SessionData } from "../record/session-data.js";
import type { SessionLink } from "../record/link.js";
import { STORED_META, type SessionRecords } from "../record/records.js";
import {
  attachMeta,
  ownMeta,
  metaData,
  metaOfSection,
  withoutMetaField,
  type MetaValue,
} from "../record/meta-section.js";
import type { DataLayer } from "../record/data-layer.js";
import type { LegacyMigration } from "./legacy.js";
import { cookieIssuedAt, type LifetimePolicy } from "./lifetime.js";
import { lifetimeWithin } from "../record/filing.js";
import type { Loaded, StoreReads } from "./read-mark.js";
import { DONE } from "./respond.js";

/**
 * Why sessions are deleted: revoked (destroy), revoked by `clear()` (announced once for all),
 * expired (saved with a past expiry), or corrupt.
 */
export type DeleteReason = "revoke" | "lifetime" | "clear" | "expired" | "corrupt";

/** What a store's writes are made of (built by the store, see store-options.ts). */
export interface StoreWritesParts {
  /** The store whose writes these are (`Loaded.store`). */
  readonly store: object;
  readonly records: SessionRecords;
  readonly layer: DataLayer;
  readonly reads: StoreReads;
  readonly lifetime: LifetimePolicy;
  readonly legacy: LegacyMigration | undefined;
  readonly recordLayout: 3 | 4;
}

/**
 * A store's saves, touches and deletes: what is written for a session and its metadata, on
 * which path (one `SET … XX` for an object this process read, the write script for any
 * other), and what the object knows afterwards.
 */
export class StoreWrites {
  readonly #store: object;
  readonly #records: SessionRecords;
  readonly #layer: DataLayer;
  readonly #reads: StoreReads;
  readonly #lifetime: LifetimePolicy;
  readonly #legacy: LegacyMigration | undefined;
  readonly #recordLayout: 3 | 4;

  constructor(parts: StoreWritesParts) {
    this.#store = parts.store;
    this.#records = parts.records;
    this.#layer = parts.layer;
    this.#reads = parts.reads;
    this.#lifetime = parts.lifetime;
    this.#legacy = parts.legacy;
    this.#recordLayout = parts.recordLayout;
  }

  /**
   * Write a session. One read or written through this object (or a copy of one this process
   * read) is saved only while it exists, however long the request ran; any other is judged by
   * Redis against the session's revocation marker. Afterwards the object knows what was
   * written, so its next save (express-session saves a sign-in twice when the route calls
   * `save()`) is a plain `SET … XX`: a revocation in between is final.
   *
   * No async frame of its own (it is on every modifying request's path): a bad lifetime or
   * an oversized session throws synchronously; callers run it through `rejecting`, or from
   * an async frame.
   */
  save(sid: string, session: SessionData, condition?: "absent"): Promise<boolean> {
    const { hex, info } = this.#reads.lookup(sid, session);
    const ttlMs = this.#lifetime.ttlMs(session);
    // express-session's contract: saving an already expired session deletes it (this is
    // not a revocation: a later save of the same sid is stored).
    if (ttlMs <= 0) return this.deleteSessions([sid], "expired").then(() => false);
    // The metadata: set on this object (the manager), in its `_rels` field (an app's or an
    // older writer's), else what was read for it (a copy: by private hex); else unknown.
    const own = ownMeta(session);
    const meta = own === undefined ? info?.meta : own;
    const bare = withoutMetaField(session);
    // Metadata unchanged since this object was read or written: its filing is the record's.
    const known = info !== undefined && meta === info.meta ? this.#knownLink(info) : undefined;
    const { payload, section, link, deadline, data } = this.#layer.encodeWrite(
      bare,
      meta,
      this.#recordLayout,
      known,
    );
    const fromPrivate = info !== undefined && !info.legacy;
    const now = Date.now();
    // A session at its absolute deadline is over, whatever the request did meanwhile.
    if (deadline > 0 && deadline <= now) return this.revokePastLifetime(hex).then(() => false);
    const written = this.#records
      .write({
        hex,
        payload,
        ttlMs: this.#lifetime.storedTtlMs(ttlMs),
        deadline,
        link,
        condition: condition ?? (fromPrivate ? "exists" : "new"),
        previous: fromPrivate && !info.layout2 ? info.header : undefined,
        now,
        plain: this.#legacy?.mirrors ? this.#legacy.plainKeyOf(sid) : "",
        // A plain-sid session is moved whatever its age: its record never existed.
        bornMs: fromPrivate || info?.legacy ? 0 : cookieIssuedAt(session),
        meta: section,
        keepMeta: meta === undefined,
      })
      .then((header): boolean | Promise<boolean> => {
        if (header === STORED_META) return this.#saveKeepingMeta(sid, hex, session, condition);
        if (header === undefined) return false;
        // What was written is what a later save writes back unchanged.
        const kept: MetaValue = section === undefined ? (meta ?? null) : metaOfSection(section);
        this.#reads.remember(session, {
          sid,
          hex,
          header,
          legacy: false,
          store: this.#store,
          meta: kept,
          link,
        });
        return true;
      });
    if (!this.#legacy) return written;
    // The plain-sid copy carries the metadata in `_rels`, as the stores before layout 4 kept it.
    const mirrored = data === undefined ? metaData(meta) : data;
    const plainCopy = mirrored === null ? bare : ({ ...bare, _rels: mirrored } as SessionData);
    // The plain copy ends at the deadline too: older processes read it without checking one.
    const plainTtlMs = lifetimeWithin(this.#lifetime.storedTtlMs(ttlMs), deadline, now);
    return this.#saveMigrating(this.#legacy, written, sid, hex, plainCopy, plainTtlMs);
  }

  /**
   * The link and deadline of what `info` read or wrote, when known without parsing its
   * metadata: the ones a write remembered, else the ones its header holds (the header's
   * deadline is the metadata's, written with it). Undefined: parse it.
   */
  #knownLink(info: Loaded): { link: SessionLink | undefined; deadline: number } | undefined {
    // The header a write remembers holds the deadline it wrote.
    if ("link" in info) return { link: info.link, deadline: info.header?.deadline ?? 0 };
    const { header } = info;
    if (info.legacy || info.layout2 || header === undefined) return undefined;
    const { deadline } = header;
    if (header.index === "" && header.bucket === "") return { link: undefined, deadline };
    const link = this.#records.keys.linkOfFiling(header.index, header.bucket);
    return link === undefined ? undefined : { link, deadline };
  }

  /**
   * A copy this process cannot place, of a session whose record holds metadata: read it and
   * save again with it, so a framework's copy never erases a sign-in.
   */
  async #saveKeepingMeta(
    sid: string,
    hex: string,
    session: SessionData,
    condition: "absent" | undefined,
  ): Promise<boolean> {
    const record = await this.#records.read(hex);
    attachMeta(session, this.#layer.recordMeta(record));
    return this.save(sid, session, condition);
  }

  /**
   * The rest of a save while migrating from plain-sid keys: the plain copy beside it, and the
   * mirror, given `ttlMs` (already what Redis is given: 0 for none, capped at the deadline).
   */
  async #saveMigrating(
    legacy: LegacyMigration,
    written: Promise<boolean>,
    sid: string,
    hex: string,
    session: SessionData,
    ttlMs: number,
  ): Promise<boolean> {
    const [stored] = await Promise.all([written, legacy.besideWrite(sid)]);
    if (!stored) return false;
    // Mirroring costs a round trip of its own, and only during a mixed-version rollout.
    if (legacy.mirrors) await legacy.mirror(sid, hex, session, ttlMs);
    return true;
  }

  /** Like `save`, no async frame of its own: most touches fall within `touchAfter` and send nothing. */
  touch(sid: string, session: SessionData): Promise<void> {
    if (this.#lifetime.disableTouch || this.#lifetime.disableTTL) return DONE;
    const { hex, info } = this.#reads.lookup(sid, session);
    // Never past the absolute deadline: a session near it is not touched again and again.
    const ttlMs = capAt(this.#lifetime.ttlMs(session), info?.header?.deadline ?? 0);
    if (this.#lifetime.withinThrottle(ttlMs, info?.header?.expiresAt)) return DONE;
    return this.#extend(sid, session, hex, info, ttlMs);
  }

  async #extend(
    sid: string,
    session: SessionData,
    hex: string,
    info: Loaded | undefined,
    ttlMs: number,
  ): Promise<void> {
    if (ttlMs <= 0) {
      await this.deleteSessions([sid], "expired");
      return;
    }
    // A session still living under its plain-sid key has no private key to extend: move it,
    // unless a concurrent request already did (its save is newer than this copy).
    if (info?.legacy && (await this.save(sid, session, "absent"))) return;
    await this.#records.touch(hex, ttlMs, Date.now(), info?.legacy ? undefined : info?.header);
  }

  /**
   * A session found at or past its absolute deadline (its lifetime profile's `absoluteMs`,
   * counted from sign-in) is revoked as any other: the destroy script deletes it, leaves its
   * revocation marker and takes it out of its user's index and stats. The read is a miss.
   */
  revokePastLifetime(hex: string): Promise<null> {
    // A miss whatever the revocation's fate: the deadline decided it. A replica that does not
    // confirm (durableRevocation: the master applied it) or a failed destroy (Redis's TTL ends
    // the record at the deadline anyway) is no error of the request's.
    return this.destroyRecords([hex], "lifetime").then(
      () => null,
      () => null,
    );
  }

  /** Destroy by sid (each checked by `privateHex`), with the plain-sid copies while migrating. */
  async deleteSessions(sids: readonly string[], why: DeleteReason): Promise<number> {
    const hexes = [...new Set(sids)].map((sid) => privateHex(sid));
    const [count] = await Promise.all([
      this.destroyRecords(hexes, why),
      // Every sid was checked by privateHex above.
      this.#legacy?.remove(sids),
    ]);
    return count;
  }

  /**
   * Destroy by private hex. A revocation leaves each session's marker in Redis (no later
   * write creates it again); an expired cookie's delete or a corrupt record's does not. What
   * this process read of them is forgotten either way.
   */
  destroyRecords(hexes: readonly string[], why: DeleteReason): Promise<number> {
    for (const hex of hexes) this.#reads.forget(hex);
    if (why === "clear") return this.#records.destroy(hexes, { reason: "clear" });
    if (why === "lifetime") return this.#records.destroy(hexes, { reason: "lifetime" });
    return this.#records.destroy(hexes, { revoke: why === "revoke", reason: "destroy" });
  }
}

/** A lifetime of `ttlMs` that ends no later than `deadline` (0: none), at least 1 ms. */
function capAt(ttlMs: number, deadline: number): number {
  return deadline > 0 && ttlMs > 0 ? Math.min(ttlMs, Math.max(1, deadline - Date.now())) : ttlMs;
}

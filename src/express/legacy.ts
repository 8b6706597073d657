import type { SessionData } from "express-session";
import { isPlainSidSafe } from "../ids.js";
import { escapeGlob } from "../record/keys.js";
import type { SessionRecords } from "../record/records.js";
import { nullOnWrongType } from "../redis/wrong-type.js";
import type { Serializer } from "../record/codec/serializer.js";

/** How long a process trusts what it read of the migration flag. */
const FLAG_CACHE_MS = 60_000;

/**
 * Moving from plain-sid keys (connect-redis with the same prefix) to private-id keys.
 *
 * While migrating, a miss on the private key falls back to the plain-sid key, and the next
 * write moves the session (writes the private key, deletes the plain one). The flag
 * `<namespace>:2:secure_store_enabled` holds the time since which every writer writes
 * private keys only; once a whole TTL has passed since then, every plain-sid session has
 * expired, and no process reads plain-sid keys any more. A process with `mirrorWrites`
 * (a mixed-version rollout) keeps deleting the flag, so migration is never declared done
 * while it still writes plain keys.
 *
 * Only sids that cannot name one of the library's own keys (`isPlainSidSafe`) are looked up
 * under a plain key. A revocation by private id cannot name the plain copy, so while migrating it leaves a
 * marker (records.ts `revokedMarkerMs`) as long-lived as any plain copy, and a plain copy
 * whose session is marked is never read again.
 */
export class LegacyMigration {
  readonly #records: SessionRecords;
  readonly #mirrorWrites: boolean;
  readonly #ttlMs: number;
  /** connect-redis's format: JSON, or the app's own text serializer. */
  readonly #serializer: Serializer;
  #flag: { done: boolean; readAt: number } | undefined;
  #flagWrittenAt = Number.NEGATIVE_INFINITY;

  constructor(
    records: SessionRecords,
    options: { mirrorWrites: boolean; ttlMs: number; serializer: Serializer },
  ) {
    this.#records = records;
    this.#serializer = options.serializer;
    this.#mirrorWrites = options.mirrorWrites;
    this.#ttlMs = options.ttlMs;
  }

  get mirrors(): boolean {
    return this.#mirrorWrites;
  }

  /** The plain-sid key of `sid`, or "" for a sid that must not name one (see `isPlainSidSafe`). */
  plainKeyOf(sid: string): string {
    return isPlainSidSafe(sid) ? this.#records.keys.legacy(sid) : "";
  }

  /**
   * The plain-sid session, or null (also once migration is done, for a sid that cannot
   * name a plain key, and for a session revoked since). A copy this process cannot read is
   * a miss but is left alone: it may be another app's.
   */
  async read(
    sid: string,
    hex: string,
    decode: (raw: string | Buffer, serializer: Serializer) => SessionData | null,
  ): Promise<SessionData | null> {
    if (!isPlainSidSafe(sid) || (await this.#done())) return null;
    const keys = this.#records.keys;
    const key = keys.legacy(sid);
    const [raw, revoked] = await this.#records.source.run((c) =>
      Promise.all([c.getBuffer(key).catch(nullOnWrongType), c.exists(keys.revoked(hex))]),
    );
    if (raw === null) return null;
    if (revoked) {
      await this.#records.source.run((c) => c.del(key));
      return null;
    }
    return decode(raw, this.#serializer);
  }

  /**
   * Alongside a private-key write: delete the plain key it replaces (unless mirroring), and
   * keep the migration flag current — at most once per TTL, or per minute when mirroring.
   */
  async besideWrite(sid: string): Promise<void> {
    const now = Date.now();
    const flagDue = now - this.#flagWrittenAt >= (this.#mirrorWrites ? FLAG_CACHE_MS : this.#ttlMs);
    if (flagDue) this.#flagWrittenAt = now;
    const keys = this.#records.keys;
    const flag = keys.migrationFlag();
    await this.#records.source.run((c) => {
      const steps: Array<Promise<unknown>> = [];
      if (this.#mirrorWrites) {
        if (flagDue) steps.push(c.del(flag));
      } else {
        if (!this.#flag?.done && isPlainSidSafe(sid)) steps.push(c.del(keys.legacy(sid)));
        if (flagDue) steps.push(c.set(flag, String(now), "NX"));
      }
      return Promise.all(steps);
    });
  }

  /**
   * After a private-key write succeeded, write the plain copy too, in connect-redis's
   * format, then check that the private key still exists: a destroy that ran in between
   * (and deleted the plain key) is not undone.
   */
  async mirror(sid: string, hex: string, session: SessionData, ttlMs: number): Promise<void> {
    if (!isPlainSidSafe(sid)) return;
    const keys = this.#records.keys;
    const key = keys.legacy(sid);
    const payload = this.#serializer.stringify(session);
    // The check follows the write (on Cluster the two keys live on different nodes, so it
    // must wait for the write's reply): a destroy that ran before the check is seen by it.
    await this.#records.source.run((c) =>
      ttlMs > 0 ? c.set(key, payload, "PX", ttlMs) : c.set(key, payload),
    );
    const alive = await this.#records.source.run((c) => c.exists(keys.session(hex)));
    if (alive === 0) await this.#records.source.run((c) => c.del(key));
  }

  async remove(sids: readonly string[]): Promise<void> {
    const plain = sids.filter(isPlainSidSafe);
    if (plain.length === 0) return;
    const keys = this.#records.keys;
    await this.#records.source.run((c) => Promise.all(plain.map((sid) => c.del(keys.legacy(sid)))));
  }

  /** `store.clear()` while migrating: the plain copies go too, or their users would be signed in again. */
  async clear(): Promise<void> {
    const keys = this.#records.keys;
    for await (const found of this.#records.scanKeys(`${escapeGlob(keys.prefix)}*`)) {
      const plain = found.filter((key) => isPlainSidSafe(key.slice(keys.prefix.length)));
      if (plain.length > 0)
        await this.#records.source.run((c) => Promise.all(plain.map((key) => c.del(key))));
    }
  }

  async #done(): Promise<boolean> {
    const now = Date.now();
    if (this.#flag && now - this.#flag.readAt < FLAG_CACHE_MS) return this.#flag.done;
    const since = Number(await this.#records.source.run((c) => c.get(this.#records.keys.migrationFlag())));
    const done = !this.#mirrorWrites && Number.isFinite(since) && since > 0 && now - since >= this.#ttlMs;
    this.#flag = { done, readAt: now };
    return done;
  }
}

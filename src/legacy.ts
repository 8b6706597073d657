import type { SessionData } from "express-session";
import type { Keys } from "./keys.js";
import type { RedisSource } from "./redis/pool.js";
import { nullOnWrongType } from "./redis/wrong-type.js";
import type { Serializer } from "./serializer.js";

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
 */
export class LegacyMigration {
  readonly #source: RedisSource;
  readonly #keys: Keys;
  readonly #mirrorWrites: boolean;
  readonly #ttlMs: number;
  /** connect-redis's format: JSON, or the app's own text serializer. */
  readonly #serializer: Serializer;
  #flag: { done: boolean; readAt: number } | undefined;
  #flagWrittenAt = Number.NEGATIVE_INFINITY;

  constructor(source: RedisSource, keys: Keys, options: { mirrorWrites: boolean; ttlMs: number; serializer: Serializer }) {
    this.#source = source;
    this.#keys = keys;
    this.#serializer = options.serializer;
    this.#mirrorWrites = options.mirrorWrites;
    this.#ttlMs = options.ttlMs;
  }

  /** The plain-sid session, or null (also once migration is done). */
  /**
   * The plain-sid session, or null (also once migration is done). A destroyed session's
   * tombstone wins over a plain copy — while migrating, tombstones live as long as the
   * session would have (`relsDestroy`), so a revoked session's mirrored copy cannot come
   * back. A copy this process cannot read is a miss but is left alone: it may be another
   * app's.
   */
  async read(
    sid: string,
    hex: string,
    decode: (raw: string | Buffer, serializer: Serializer) => SessionData | null,
  ): Promise<SessionData | null> {
    if (await this.#done()) return null;
    const key = this.#keys.legacy(sid);
    const [raw, tombstoned] = await this.#source.run((c) =>
      Promise.all([c.getBuffer(key).catch(nullOnWrongType), c.exists(this.#keys.tombstone(hex))]),
    );
    if (raw === null) return null;
    if (tombstoned) {
      await this.#source.run((c) => c.del(key));
      return null;
    }
    return decode(raw, this.#serializer);
  }

  get mirrors(): boolean {
    return this.#mirrorWrites;
  }

  /**
   * Alongside a private-key write: delete the plain key it replaces (unless mirroring), and
   * keep the migration flag current — at most once per TTL, or per minute when mirroring.
   */
  async besideWrite(sid: string): Promise<void> {
    const now = Date.now();
    const flagDue = now - this.#flagWrittenAt >= (this.#mirrorWrites ? FLAG_CACHE_MS : this.#ttlMs);
    if (flagDue) this.#flagWrittenAt = now;
    const flag = this.#keys.migrationFlag();
    await this.#source.run((c) => {
      const steps: Array<Promise<unknown>> = [];
      if (this.#mirrorWrites) {
        if (flagDue) steps.push(c.del(flag));
      } else {
        if (!this.#flag?.done) steps.push(c.del(this.#keys.legacy(sid)));
        if (flagDue) steps.push(c.set(flag, String(now), "NX"));
      }
      return Promise.all(steps);
    });
  }

  /**
   * After a private-key write succeeded (never before: a write a tombstone refused must not
   * reappear under the plain key), write the plain copy too, in connect-redis's format.
   */
  async mirror(sid: string, session: SessionData, ttlMs: number): Promise<void> {
    const key = this.#keys.legacy(sid);
    const payload = this.#serializer.stringify(session);
    await this.#source.run((c) => (ttlMs > 0 ? c.set(key, payload, "PX", Math.ceil(ttlMs)) : c.set(key, payload)));
  }

  async remove(sids: readonly string[]): Promise<void> {
    if (sids.length === 0) return;
    await this.#source.run((c) => Promise.all(sids.map((sid) => c.del(this.#keys.legacy(sid)))));
  }

  async #done(): Promise<boolean> {
    const now = Date.now();
    if (this.#flag && now - this.#flag.readAt < FLAG_CACHE_MS) return this.#flag.done;
    const since = Number(await this.#source.run((c) => c.get(this.#keys.migrationFlag())));
    const done = !this.#mirrorWrites && Number.isFinite(since) && since > 0 && now - since >= this.#ttlMs;
    this.#flag = { done, readAt: now };
    return done;
  }
}

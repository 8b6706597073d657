import { clientPlatformSchema, type ClientPlatform } from "./meta.js";
import { type Keys, META_FIELD } from "./keys.js";
import type { RedisClient, RedisSource } from "./redis/pool.js";

/** What the store needs to know of a signed-in session: whose it is, for which app and platform. */
export interface SessionLink {
  readonly userId: string;
  readonly applicationName: string;
  readonly clientPlatform: ClientPlatform;
}

/** The link carried by a session's metadata field, if the session is signed in. */
export function linkOf(session: object): SessionLink | undefined {
  const meta = (session as Record<string, unknown>)[META_FIELD];
  if (meta === null || typeof meta !== "object") return undefined;
  const { userId, applicationName, clientPlatform } = meta as Record<string, unknown>;
  if (typeof userId !== "string" || userId === "" || typeof applicationName !== "string") return undefined;
  const platform = clientPlatformSchema.safeParse(clientPlatform);
  return { userId, applicationName, clientPlatform: platform.success ? platform.data : "web" };
}

type Score = number | "+inf";

/**
 * Writes, touches and destroys sessions together with their owner's index and the stats.
 *
 * Standalone: one script per session does it all atomically. Cluster: the script changes
 * the session's slot and returns the index and bucket it names; the follow-ups go to those
 * slots right after, in parallel. A crash between the two leaves at worst an index entry
 * or a count without a session, which `UserSessions.list` prunes and `totals()` outlives by
 * no more than the session's expiry.
 */
export class SessionLinks {
  readonly #source: RedisSource;
  readonly #keys: Keys;

  constructor(source: RedisSource, keys: Keys) {
    this.#source = source;
    this.#keys = keys;
  }

  /**
   * `"refused"` when a tombstone refused the write (the session was destroyed meanwhile);
   * `"exists"` when `onlyIfAbsent` and the session is already there (nothing written).
   */
  async save(
    hex: string,
    link: SessionLink | undefined,
    payload: string | Buffer,
    meta: string,
    ttlMs: number,
    score: Score,
    now: number,
    onlyIfAbsent = false,
  ): Promise<"written" | "refused" | "exists"> {
    const keys = this.#keys;
    const cascade = !this.#source.isCluster;
    const index = link ? keys.userIndex(link.userId) : "";
    const bucket = link ? keys.statsBucket(link.applicationName, link.clientPlatform) : "";
    const [written, oldIndex, oldBucket] = await this.#source.run((c) =>
      c.relsSet(
        keys.session(hex),
        keys.tombstone(hex),
        payload,
        Math.max(0, ttlMs),
        meta,
        index,
        bucket,
        keys.statsRegistry(),
        keys.statsUpdated(),
        hex,
        score,
        now,
        cascade ? 1 : 0,
        onlyIfAbsent ? 1 : 0,
      ),
    );
    if (written === 0) return "refused";
    if (written === 2) return "exists";
    if (!cascade) {
      await this.#followUp([
        oldIndex && oldIndex !== index ? this.#index(oldIndex, "drop", hex, 0, now) : undefined,
        oldBucket && oldBucket !== bucket ? this.#stats(oldBucket, "drop", hex, 0, now) : undefined,
        index ? this.#index(index, "put", hex, score, now) : undefined,
        bucket ? this.#stats(bucket, "put", hex, score, now) : undefined,
      ]);
    }
    return "written";
  }

  /** Extend a session's expiry (never recreating it) and its index and stats scores. */
  async touch(hex: string, ttlMs: number, now: number): Promise<void> {
    const cascade = !this.#source.isCluster;
    const score = now + ttlMs;
    const [alive, index, bucket] = await this.#source.run((c) =>
      c.relsTouch(this.#keys.session(hex), ttlMs, hex, score, cascade ? 1 : 0, this.#keys.statsRegistry(), now),
    );
    if (alive === 0 || cascade) return;
    await this.#followUp([
      index ? this.#index(index, "put", hex, score, now) : undefined,
      bucket ? this.#stats(bucket, "touch", hex, score, now) : undefined,
    ]);
  }

  /**
   * Destroy sessions (leaving tombstones when `tombstoneMs` > 0); returns how many ended.
   * With `ownerIndex`, only sessions that index owns are destroyed.
   */
  async destroy(hexes: readonly string[], tombstoneMs: number, ownerIndex = "", tombstoneToExpiry = false): Promise<number> {
    const keys = this.#keys;
    const cascade = !this.#source.isCluster;
    const now = Date.now();
    const replies = await this.#source.run((c) =>
      Promise.all(
        hexes.map((hex) =>
          c.relsDestroy(
            keys.session(hex),
            keys.tombstone(hex),
            tombstoneMs,
            hex,
            now,
            keys.statsUpdated(),
            cascade ? 1 : 0,
            ownerIndex,
            tombstoneToExpiry ? 1 : 0,
          ),
        ),
      ),
    );
    if (!cascade) {
      await this.#followUp(
        replies.flatMap(([, index, bucket], i) => [
          index ? this.#index(index, "drop", hexes[i]!, 0, now) : undefined,
          bucket ? this.#stats(bucket, "drop", hexes[i]!, 0, now) : undefined,
        ]),
      );
    }
    return replies.reduce((n, [existed]) => n + existed, 0);
  }

  #index(index: string, op: "put" | "drop", hex: string, score: Score, now: number) {
    return (c: RedisClient) => c.relsIndexLink(index, op, hex, score, now);
  }

  #stats(bucket: string, op: "put" | "touch" | "drop", hex: string, score: Score, now: number) {
    const keys = this.#keys;
    return (c: RedisClient) =>
      c.relsStatsLink(bucket, keys.statsRegistry(), keys.statsUpdated(), op, hex, score, now);
  }

  async #followUp(steps: ReadonlyArray<((c: RedisClient) => Promise<unknown>) | undefined>) {
    const todo = steps.filter((s) => s !== undefined);
    if (todo.length > 0) await this.#source.run((c) => Promise.all(todo.map((step) => step(c))));
  }
}

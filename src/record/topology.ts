import type { RedisClient, RedisSource } from "../redis/source.js";
import type { Keys } from "./keys.js";

interface Filing {
  readonly index: string;
  readonly bucket: string;
  readonly score: number;
  /** The session's absolute deadline (0 or none: no deadline): enters its shard's deadline set. */
  readonly deadline?: number;
}

/** A session about to be filed (before its write, or before a touch extends it). */
export interface NewFiling {
  readonly hex: string;
  readonly filed: Filing;
  /** The per-user cap the index enforces as it files (0: none). */
  readonly cap: number;
  readonly now: number;
}

export interface WriteFollowUp {
  readonly hex: string;
  /** Where the session was filed before the write ("" for nowhere). */
  readonly old: { readonly index: string; readonly bucket: string };
  readonly filed: Filing;
  readonly now: number;
}

/**
 * How the index entries and stats counts follow a session's changes: the one place where
 * standalone and Cluster differ.
 */
export interface Topology {
  /** Whether the session scripts update the index and stats themselves (standalone). */
  readonly cascades: boolean;
  /**
   * Cluster: file the session's index entry and stats count before the session is written
   * or extended; returns the sessions the cap pushed out of the index (to be revoked).
   * Throws, having taken back what it filed, when a step fails.
   */
  fileFirst(filing: NewFiling): Promise<string[]>;
  /** Take back what `fileFirst` filed, for a write or touch that did not land. */
  unfile(filing: Omit<NewFiling, "cap">): Promise<void>;
  /** After a write landed: drop the entries of the filing it left (a relink, a sign-out). */
  afterWrite(change: WriteFollowUp): Promise<void>;
  afterDestroy(ended: ReadonlyArray<Ended>, now: number): Promise<void>;
}

/** A destroyed session and what it was filed under (its plain-sid copy: mirroring only). */
interface Ended {
  readonly hex: string;
  readonly index: string;
  readonly bucket: string;
  readonly plain?: string;
}

export function topologyOf(source: RedisSource, keys: Keys): Topology {
  return source.isCluster ? new FollowUps(source, keys) : new Cascade();
}

type Step = (c: RedisClient) => Promise<unknown>;

/** Sends steps in one round trip (ioredis routes each command to its slot's node). */
async function inParallel(source: RedisSource, steps: ReadonlyArray<Step | undefined>): Promise<unknown[]> {
  const todo = steps.filter((s) => s !== undefined);
  if (todo.length === 0) return [];
  return source.run((c) => Promise.all(todo.map((step) => step(c))));
}

const NONE: Promise<string[]> = Promise.resolve([]);

/** Standalone: the scripts do it all, atomically. */
class Cascade implements Topology {
  readonly cascades = true;
  fileFirst(): Promise<string[]> {
    return NONE;
  }
  async unfile(): Promise<void> {}
  async afterWrite(): Promise<void> {}
  async afterDestroy(): Promise<void> {}
}

/**
 * Cluster: a session's index entry and stats count live in other slots. They are filed
 * before the session is written or extended, so an entry's score always covers its session's
 * expiry and a failed follow-up leaves no live unlisted session; a write that is refused
 * takes them back out. A revocation deletes the session first and drops its entries after.
 * What a crash between two steps can leave is an entry without a session: a reader prunes it,
 * and its count leaves the stats when its score passes (a tenth of the lifetime at most).
 */
class FollowUps implements Topology {
  readonly cascades = false;
  readonly #source: RedisSource;
  readonly #keys: Keys;

  constructor(source: RedisSource, keys: Keys) {
    this.#source = source;
    this.#keys = keys;
  }

  async fileFirst({ hex, filed, cap, now }: NewFiling): Promise<string[]> {
    if (!filed.index && !filed.bucket) return [];
    const steps: Array<Promise<unknown>> = [];
    if (filed.index)
      steps.push(
        this.#source.run((c) => c.relsIndexPut(filed.index, hex, filed.score, now, cap), filed.index),
      );
    if (filed.bucket)
      steps.push(
        this.#source.run(
          this.#statsPut(filed.bucket, hex, filed.score, now, filed.deadline ?? 0),
          filed.bucket,
        ),
      );
    const settled = await Promise.allSettled(steps);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) {
      await this.unfile({ hex, filed, now }).catch(() => undefined);
      throw failed.reason;
    }
    return filed.index ? ((settled[0] as PromiseFulfilledResult<string[]>).value ?? []) : [];
  }

  async unfile({ hex, filed, now }: Omit<NewFiling, "cap">): Promise<void> {
    // The session may live on, filed as before: its deadline entry stays.
    await inParallel(this.#source, [
      filed.index ? (c) => c.zrem(filed.index, hex) : undefined,
      filed.bucket ? this.#statsDrop(filed.bucket, hex, now, false) : undefined,
    ]);
  }

  async afterWrite({ hex, old, filed, now }: WriteFollowUp): Promise<void> {
    await inParallel(this.#source, [
      old.index && old.index !== filed.index ? (c) => c.zrem(old.index, hex) : undefined,
      old.bucket && old.bucket !== filed.bucket ? this.#statsDrop(old.bucket, hex, now, false) : undefined,
    ]);
  }

  async afterDestroy(ended: ReadonlyArray<Ended>, now: number): Promise<void> {
    await inParallel(
      this.#source,
      ended.flatMap(({ hex, index, bucket, plain }) => [
        index ? (c: RedisClient) => c.zrem(index, hex) : undefined,
        bucket ? this.#statsDrop(bucket, hex, now, true) : undefined,
        plain ? (c: RedisClient) => c.del(plain) : undefined,
      ]),
    );
  }

  #statsPut(bucket: string, hex: string, score: number, now: number, deadline: number): Step {
    const shard = this.#keys.statsShardOf(bucket);
    return (c) =>
      c.relsStatsPut(bucket, shard.registry, shard.updated, shard.deadlines, hex, score, now, 0, deadline);
  }

  /** `forget`: the session ended, so its deadline entry goes too (not for a relink or an unfiling). */
  #statsDrop(bucket: string, hex: string, now: number, forget: boolean): Step {
    const shard = this.#keys.statsShardOf(bucket);
    return (c) => c.relsStatsDrop(bucket, shard.updated, shard.deadlines, hex, now, forget ? 1 : 0);
  }
}

import type { RedisClient, RedisSource } from "../redis/pool.js";
import type { Keys } from "./keys.js";

interface Filing {
  readonly index: string;
  readonly bucket: string;
  readonly score: number;
}

export interface WriteFollowUp {
  readonly hex: string;
  /** Where the session was filed before the write ("" for nowhere). */
  readonly old: { readonly index: string; readonly bucket: string };
  readonly filed: Filing;
  readonly userId: string | undefined;
  readonly cap: number;
  readonly now: number;
}

/**
 * How the index entries and stats counts follow a session's changes: the one place where
 * standalone and Cluster differ.
 */
export interface Topology {
  /** Whether the session scripts update the index and stats themselves (standalone). */
  readonly cascades: boolean;
  afterWrite(change: WriteFollowUp): Promise<void>;
  afterTouch(change: { hex: string; filed: Filing; now: number }): Promise<void>;
  afterDestroy(ended: ReadonlyArray<Ended>, now: number): Promise<void>;
}

type Revoke = (hexes: readonly string[], owner: string) => Promise<number>;

/** A destroyed session and what it was filed under (its plain-sid copy: mirroring only). */
interface Ended {
  readonly hex: string;
  readonly index: string;
  readonly bucket: string;
  readonly plain?: string;
}

export function topologyOf(source: RedisSource, keys: Keys, revoke: Revoke): Topology {
  return source.isCluster ? new FollowUps(source, keys, revoke) : new Cascade();
}

type Step = (c: RedisClient) => Promise<unknown>;

/** Sends steps in one round trip (ioredis routes each command to its slot's node). */
async function inParallel(source: RedisSource, steps: ReadonlyArray<Step | undefined>): Promise<unknown[]> {
  const todo = steps.filter((s) => s !== undefined);
  if (todo.length === 0) return [];
  return source.run((c) => Promise.all(todo.map((step) => step(c))));
}

/** Standalone: the scripts did it all, atomically. */
class Cascade implements Topology {
  readonly cascades = true;
  async afterWrite(): Promise<void> {}
  async afterTouch(): Promise<void> {}
  async afterDestroy(): Promise<void> {}
}

/**
 * Cluster: a session's index entry and stats count live in other slots, so they follow in
 * a second round trip. A revocation deletes the session first and drops its entries after;
 * a write files its entries after the session and then checks the session still exists,
 * dropping them again if not. Whatever the interleaving, an entry never outlives its session
 * for longer than that check (and a reader prunes an entry whose session is gone).
 */
class FollowUps implements Topology {
  readonly cascades = false;
  readonly #source: RedisSource;
  readonly #keys: Keys;
  readonly #revoke: Revoke;

  constructor(source: RedisSource, keys: Keys, revoke: Revoke) {
    this.#source = source;
    this.#keys = keys;
    this.#revoke = revoke;
  }

  async afterWrite(change: WriteFollowUp): Promise<void> {
    const { hex, old, filed, now } = change;
    const [victims] = await Promise.all([
      filed.index
        ? this.#source.run((c) => c.relsIndexPut(filed.index, hex, filed.score, now, change.cap))
        : Promise.resolve<string[]>([]),
      inParallel(this.#source, [
        old.index && old.index !== filed.index ? (c) => c.zrem(old.index, hex) : undefined,
        old.bucket && old.bucket !== filed.bucket ? this.#statsDrop(old.bucket, hex, now) : undefined,
        filed.bucket ? this.#statsPut(filed.bucket, hex, filed.score, now) : undefined,
      ]),
    ]);
    await this.#verify(hex, filed, now);
    if (victims.length > 0 && change.userId !== undefined) await this.#revoke(victims, change.userId);
  }

  async afterTouch(change: { hex: string; filed: Filing; now: number }): Promise<void> {
    const { hex, filed, now } = change;
    await inParallel(this.#source, [
      filed.index ? (c) => c.relsIndexPut(filed.index, hex, filed.score, now, 0) : undefined,
      filed.bucket ? this.#statsPut(filed.bucket, hex, filed.score, now) : undefined,
    ]);
    await this.#verify(hex, filed, now);
  }

  async afterDestroy(ended: ReadonlyArray<Ended>, now: number): Promise<void> {
    await inParallel(
      this.#source,
      ended.flatMap(({ hex, index, bucket, plain }) => [
        index ? (c: RedisClient) => c.zrem(index, hex) : undefined,
        bucket ? this.#statsDrop(bucket, hex, now) : undefined,
        plain ? (c: RedisClient) => c.del(plain) : undefined,
      ]),
    );
  }

  /** A revocation that ran between the write and its follow-up: take the entries back out. */
  async #verify(hex: string, filed: Filing, now: number): Promise<void> {
    if (!filed.index && !filed.bucket) return;
    const exists = await this.#source.run((c) => c.exists(this.#keys.session(hex)));
    if (exists === 1) return;
    await this.afterDestroy([{ hex, index: filed.index, bucket: filed.bucket }], now);
  }

  #statsPut(bucket: string, hex: string, score: number, now: number): Step {
    return (c) => c.relsStatsPut(bucket, this.#keys.statsRegistry(), this.#keys.statsUpdated(), hex, score, now);
  }

  #statsDrop(bucket: string, hex: string, now: number): Step {
    return (c) => c.relsStatsDrop(bucket, this.#keys.statsUpdated(), hex, now);
  }
}

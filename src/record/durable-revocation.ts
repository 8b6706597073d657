import calculateSlot from "cluster-key-slot";
import { Cluster, type Redis } from "ioredis";
import type { RedisClient, RedisSource } from "../redis/source.js";
import { TUNABLES } from "../tunables.js";

/** `durableRevocation`: on, off, or "auto" (on while the master reports a connected replica). */
export interface DurableRevocationOptions {
  readonly mode: "auto" | "on" | "off";
  /** How long a revocation waits for a replica (`WAIT 1 <timeoutMs>`). */
  readonly timeoutMs: number;
}

/**
 * Revocations acknowledged only once a replica has them (`WAIT 1 <timeoutMs>`), so that a
 * failover cannot bring revoked sessions back. `WAIT` runs on the source's blocking
 * connection (`RedisSource#runBlocking`), made ahead of the first revocation that needs it.
 */
export class DurableRevocation {
  readonly #source: RedisSource;
  readonly #mode: "auto" | "on" | "off";
  readonly timeoutMs: number;
  #replicas: { readonly present: boolean; readonly at: number } | undefined;

  constructor(source: RedisSource, options: DurableRevocationOptions) {
    this.#source = source;
    this.#mode = options.mode;
    this.timeoutMs = options.timeoutMs;
    if (options.mode === "on") source.prepareBlocking();
  }

  /** Whether a revocation waits for a replica now ("auto": asked of every master at most every 10 s). */
  async required(): Promise<boolean> {
    const mode = this.#mode;
    if (mode !== "auto") return mode === "on";
    const now = Date.now();
    if (this.#replicas && now - this.#replicas.at < TUNABLES.record.replicasCheckMs)
      return this.#replicas.present;
    const masters = await this.#source.masters();
    const infos = await this.#source.run(() => Promise.all(masters.map((node) => node.info("replication"))));
    const present = infos.every((info) => Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0) > 0);
    if (present && !this.#replicas?.present) this.#source.prepareBlocking();
    this.#replicas = { present, at: now };
    return present;
  }

  /**
   * `WAIT` for the writes of `sessionKeys`: the replicas each connection they went out on
   * reached. WAIT counts the replicas that have every write of its own connection so far, so it
   * goes on the connection(s) the destroys went out on, behind them: in the same batch on one
   * server; on Cluster once they are answered (a destroy redirected by MOVED went to another
   * master than the slot map said when it was sent). A WAIT that fails (UNBLOCKED: the
   * master just became a replica) confirmed nothing (0).
   */
  waitFor(client: RedisClient, sessionKeys: readonly string[]): Promise<number[]> {
    return Promise.all(
      connectionsOf(client, sessionKeys).map((node) => node.wait(1, this.timeoutMs).catch(() => 0)),
    );
  }
}

/**
 * The connections the writes of `keys` went out on: the client itself, or the Cluster masters
 * that hold them (as its slot map says; a master it cannot name yet: all of them).
 */
function connectionsOf(client: RedisClient, keys: readonly string[]): Redis[] {
  if (!(client instanceof Cluster)) return [client];
  const masters = client.nodes("master");
  const owners = new Set(keys.map((key) => client.slots[calculateSlot(key)]?.[0]));
  const found = masters.filter((node) => owners.has(`${node.options.host}:${node.options.port}`));
  return owners.has(undefined) || found.length < owners.size ? masters : found;
}

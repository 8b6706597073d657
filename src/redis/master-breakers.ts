import calculateSlot from "cluster-key-slot";
import type { Cluster } from "ioredis";
import { RedisUnavailableError } from "../errors.js";
import { CircuitBreaker, type BreakerOptions, type StallSignal } from "./breaker.js";

/**
 * Cluster: one circuit breaker per master, so that one master down, failing over or slow fails
 * only the requests whose keys it holds. A keyed command finds its master in the Cluster
 * client's slot map (ioredis's `slots`, kept current as it follows MOVED replies and
 * failovers); that master's breaker lets it through or fails it fast, and hears how it went.
 *
 * The pool says "disconnect" (express-session then stops loading sessions) only once every
 * master it knows has its circuit open, and "connect" again as soon as one closes.
 */
export class MasterBreakers {
  readonly #options: BreakerOptions;
  readonly #stalls: StallSignal;
  readonly #emit: (event: "connect" | "disconnect") => void;
  readonly #byMaster = new Map<string, CircuitBreaker>();
  #client: Cluster | undefined;
  #allOpen = false;

  constructor(options: BreakerOptions, stalls: StallSignal, emit: (event: "connect" | "disconnect") => void) {
    this.#options = options;
    this.#stalls = stalls;
    this.#emit = emit;
  }

  /** The breaker of the master serving `key`; undefined while the client has no slot map yet. */
  of(client: Cluster, key: string): CircuitBreaker | undefined {
    this.#client = client;
    const master = client.slots[calculateSlot(key)]?.[0];
    if (master === undefined) return undefined;
    let breaker = this.#byMaster.get(master);
    if (!breaker) {
      breaker = new CircuitBreaker(this.#options, () => this.#changed(), this.#stalls);
      this.#byMaster.set(master, breaker);
      names.set(breaker, master);
    }
    return breaker;
  }

  /** The fast failure of a master whose circuit is open, naming it. */
  openError(breaker: CircuitBreaker): RedisUnavailableError {
    return new RedisUnavailableError(
      `The Redis master at ${names.get(breaker) ?? "?"} is unavailable (circuit open); failing fast`,
    );
  }

  #changed(): void {
    const masters =
      this.#client?.nodes("master").map((node) => `${node.options.host}:${node.options.port}`) ?? [];
    const allOpen =
      masters.length > 0 && masters.every((master) => this.#byMaster.get(master)?.state === "open");
    if (allOpen === this.#allOpen) return;
    this.#allOpen = allOpen;
    this.#emit(allOpen ? "disconnect" : "connect");
  }
}

/** Each master breaker's "host:port", for its error message. */
const names = new WeakMap<CircuitBreaker, string>();

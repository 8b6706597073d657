/**
 * A small circuit breaker driven by what ioredis already knows.
 *
 * ioredis tells us when a connection drops ("close"/"reconnecting") and when it is usable
 * again ("ready"), and its reconnect attempts are the probes. What it cannot see is a Redis
 * that accepts the socket but stops answering; for that we count consecutive failed
 * commands, stay open for `resetMs`, then let one call through as a probe.
 *
 * Hand-written rather than opossum: opossum wraps each call in its own promise, timer and
 * rolling-window bookkeeping, which is measurable on a path that runs twice per HTTP
 * request, and it cannot see connection events. This is two counters and a timestamp.
 */
import { publishBreakerState } from "../observability/channels.js";

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Consecutive failed commands that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe may pass. */
  resetMs: number;
}

export class CircuitBreaker {
  readonly #options: BreakerOptions;
  #state: BreakerState = "closed";
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;
  readonly #onChange: (state: BreakerState) => void;

  constructor(options: BreakerOptions, onChange: (state: BreakerState) => void) {
    this.#options = options;
    this.#onChange = onChange;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** May a command be sent now? In half-open, only one probe at a time. */
  allow(now = Date.now()): boolean {
    if (this.#state === "closed") return true;
    if (this.#state === "open") {
      if (now - this.#openedAt < this.#options.resetMs) return false;
      this.#set("half-open");
    }
    if (this.#probeInFlight) return false;
    this.#probeInFlight = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#probeInFlight = false;
    if (this.#state !== "closed") this.#set("closed");
  }

  /** The call ended without telling anything about Redis (our own error): free the probe slot. */
  release(): void {
    this.#probeInFlight = false;
  }

  failure(now = Date.now()): void {
    this.#probeInFlight = false;
    this.#failures += 1;
    if (this.#state === "half-open" || this.#failures >= this.#options.failureThreshold) this.open(now);
  }

  /** Open now (a connection was lost): fail fast until a reconnect or a probe succeeds. */
  open(now = Date.now()): void {
    this.#openedAt = now;
    if (this.#state !== "open") this.#set("open");
  }

  #set(state: BreakerState): void {
    publishBreakerState({ state, previous: this.#state });
    this.#state = state;
    this.#onChange(state);
  }
}

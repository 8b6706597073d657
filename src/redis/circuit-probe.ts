import type { CircuitBreaker } from "./breaker.js";

/**
 * While the circuit is open, probe every `resetMs` until Redis takes a write again. Reconnects close
 * the circuit by themselves ("ready"); this covers a Redis that kept the connection but
 * stopped answering (CLIENT PAUSE, a long script, a network stall), where no event would
 * ever come — and express-session, told "disconnect", would never call the store again.
 */
export class CircuitProbe {
  readonly #breaker: CircuitBreaker;
  readonly #resetMs: number;
  /** One write; rejects when Redis does not take it in time (or there is no connection). */
  readonly #probe: () => Promise<unknown>;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(breaker: CircuitBreaker, resetMs: number, probe: () => Promise<unknown>) {
    this.#breaker = breaker;
    this.#resetMs = resetMs;
    this.#probe = probe;
  }

  /** Probe in `resetMs`, unless a probe is already due or the pool is closed. */
  schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped || this.#breaker.state === "closed") return;
      this.#probe().then(
        () => this.#breaker.success(),
        () => {
          this.#breaker.open();
          this.schedule();
        },
      );
    }, this.#resetMs);
    this.#timer.unref();
  }

  /** No probe from now on (the pool is closed). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

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
 *
 * A command timeout is only news of Redis if this process was free to read the reply. When
 * the event loop is blocked (a long synchronous decode, a big JSON.stringify, GC), every
 * command deadline that passes meanwhile fires as soon as the loop is back — Node runs due
 * timers before it reads sockets, so the replies already waiting are never seen. Counted as
 * failures, one slow request of ours would open the circuit for every user of the process;
 * {@link EventLoopStallWatch} tells those timeouts apart ({@link CircuitBreaker.commandFailed}).
 */
import { performance } from "node:perf_hooks";
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
  readonly #stalls: StallSignal | undefined;

  /** `stalls`: when given, timeouts that end an event-loop stall of our own are not counted. */
  constructor(options: BreakerOptions, onChange: (state: BreakerState) => void, stalls?: StallSignal) {
    this.#options = options;
    this.#onChange = onChange;
    this.#stalls = stalls;
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

  /**
   * A command failed in a way that may be Redis's fault (the pool's classification said
   * "unavailable"). A timeout noticed while this process comes out of an event-loop stall
   * of its own is not counted: it frees the probe slot like {@link release}. Any other
   * failure counts as {@link failure}. Returns whether it counted.
   */
  commandFailed(error: unknown, now = Date.now()): boolean {
    if (this.#stalls?.stalledJustNow() && isTimeoutError(error)) {
      this.release();
      return false;
    }
    this.failure(now);
    return true;
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

/** What the breaker asks of a stall detector (an {@link EventLoopStallWatch}). */
export interface StallSignal {
  /** Is the event loop coming out of a stall at this moment? */
  stalledJustNow(): boolean;
}

/**
 * A deadline that fired, as opposed to a refused or dropped connection: ioredis's
 * `commandTimeout` ("Command timed out") or the pool's own deadlines ("did not answer
 * within"), possibly wrapped as the `cause` of a `RedisUnavailableError`.
 */
export function isTimeoutError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    if (/^Command timed out\b|did not answer within/.test(e.message)) return true;
  }
  return false;
}

/** Settings of {@link EventLoopStallWatch}, in ms. */
export interface StallWatchOptions {
  /** How often the loop is sampled: one unref'd timer per watch. */
  readonly intervalMs?: number;
  /**
   * A sample this late means the loop was blocked. Above a busy loop's ordinary lag, below
   * the command deadline: a stall shorter than this is counted against Redis as before.
   */
  readonly thresholdMs?: number;
}

export const STALL_WATCH_DEFAULTS = {
  intervalMs: 20,
  thresholdMs: 50,
} as const satisfies Required<StallWatchOptions>;

/**
 * Watches this process's own event loop with a timer that should fire every `intervalMs`:
 * when it fires `thresholdMs` or more late, the loop was blocked that long.
 *
 * Both orders in which Node may run the due timers after a stall are covered. If the
 * sample runs first, it records the stall's end, and a timeout handled right after sees
 * a stall that ended within `thresholdMs`. If the command's timeout runs first, the sample
 * is still overdue at that moment, which is the stall itself. Timestamps are
 * `performance.now()`, which wall-clock changes do not move.
 */
export class EventLoopStallWatch implements StallSignal {
  readonly #intervalMs: number;
  readonly #thresholdMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** When the running sample should fire. */
  #dueAt = Number.NaN;
  #lastStallEndedAt = Number.NEGATIVE_INFINITY;
  #longestStallMs = 0;

  constructor(options: StallWatchOptions = {}) {
    this.#intervalMs = options.intervalMs ?? STALL_WATCH_DEFAULTS.intervalMs;
    this.#thresholdMs = options.thresholdMs ?? STALL_WATCH_DEFAULTS.thresholdMs;
  }

  /** Start sampling (idempotent). The timer is unref'd: it never keeps a process alive. */
  start(): this {
    if (this.#timer === undefined) this.#schedule();
    return this;
  }

  /** Stop sampling (idempotent); a stopped watch reports no stall. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAt = Number.NaN;
  }

  /** The longest stall seen since {@link start}, in ms (0 if none reached the threshold). */
  get longestStallMs(): number {
    return this.#longestStallMs;
  }

  stalledJustNow(now = performance.now()): boolean {
    if (this.#timer === undefined) return false;
    return now - this.#dueAt >= this.#thresholdMs || now - this.#lastStallEndedAt <= this.#thresholdMs;
  }

  #schedule(): void {
    this.#dueAt = performance.now() + this.#intervalMs;
    this.#timer = setTimeout(() => this.#sample(), this.#intervalMs);
    this.#timer.unref();
  }

  #sample(): void {
    const now = performance.now();
    const lateMs = now - this.#dueAt;
    if (lateMs >= this.#thresholdMs) {
      this.#lastStallEndedAt = now;
      this.#longestStallMs = Math.max(this.#longestStallMs, lateMs);
    }
    this.#schedule();
  }
}

/**
 * Node `diagnostics_channel` tracing for rels-session: subscribe from anywhere in the
 * process (an APM agent, the OpenTelemetry bridge in `rels-session/opentelemetry`) without
 * this library knowing who listens.
 *
 * Channels are global by name, so the ESM and CommonJS builds publish to the same ones.
 * Nothing here ever carries a session id: store operations carry the session's handle
 * (`SessionMeta.sessionId`, one-way from the private id), revocations carry only their kind.
 */
import { channel, tracingChannel, type TracingChannel } from "node:diagnostics_channel";
import { privateHex, sessionHandle } from "../ids.js";

/** The store operations express-session calls. */
export const STORE_OPERATIONS = ["get", "set", "touch", "destroy"] as const;
export type StoreOperation = (typeof STORE_OPERATIONS)[number];

/** Which manager call revoked: `sessions` (by handle), `all`, `others`, `cap` (`maxSessionsPerUser`). */
export type RevocationKind = "sessions" | "all" | "others" | "cap";

/** What a store operation's channel events carry (Node adds `result` or `error` on settle). */
export interface StoreOperationContext {
  readonly operation: StoreOperation;
  /** The session's handle (computed on first read); undefined when the sid was refused (not a valid public sid). */
  readonly handle: string | undefined;
  result?: unknown;
  error?: unknown;
}

/** What a revocation's channel events carry; `result` is how many sessions ended (or a boolean). */
export interface RevocationContext {
  readonly operation: "revoke";
  readonly kind: RevocationKind;
  result?: unknown;
  error?: unknown;
}

/** Published when a circuit breaker changes state. */
export interface BreakerStateMessage {
  readonly state: "closed" | "open" | "half-open";
  readonly previous: "closed" | "open" | "half-open";
}

/** Channel names, for subscribers that do not import this module (`tracingChannel(name)`). */
export const CHANNEL_NAMES = {
  store: (operation: StoreOperation) => `rels-session:store.${operation}`,
  revoke: "rels-session:revoke",
  breaker: "rels-session:breaker.state",
} as const;

export const storeChannels: Readonly<Record<StoreOperation, TracingChannel<unknown, StoreOperationContext>>> =
  {
    get: tracingChannel(CHANNEL_NAMES.store("get")),
    set: tracingChannel(CHANNEL_NAMES.store("set")),
    touch: tracingChannel(CHANNEL_NAMES.store("touch")),
    destroy: tracingChannel(CHANNEL_NAMES.store("destroy")),
  };

export const revocationChannel: TracingChannel<unknown, RevocationContext> = tracingChannel(
  CHANNEL_NAMES.revoke,
);

export const breakerChannel = channel(CHANNEL_NAMES.breaker);

/**
 * Whether anyone listens. `TracingChannel#hasSubscribers` only exists from Node 20.13, so
 * ask the sub-channels a subscriber uses.
 */
function listened(tracing: TracingChannel<unknown, object>): boolean {
  return (
    tracing.start.hasSubscribers ||
    tracing.asyncEnd.hasSubscribers ||
    tracing.error.hasSubscribers ||
    tracing.end.hasSubscribers
  );
}

/**
 * Which session an operation is about, as the caller knows it: the cookie's sid, or the
 * private hex when it was already computed. Neither is published, only the handle made from it.
 */
export type TraceSubject = { readonly sid: string } | { readonly hex: string } | Record<string, never>;

/**
 * Run `fn` as one traced store operation. Without subscribers it is a plain call: the
 * session's handle (a hash) is only computed for someone who listens.
 */
export function traced<T>(
  operation: StoreOperation,
  subject: TraceSubject,
  fn: () => Promise<T>,
): Promise<T> {
  const tracing = storeChannels[operation];
  if (!listened(tracing)) return fn();
  return tracing.tracePromise(fn, new TracedOperation(operation, subject));
}

/**
 * A store operation's context. The handle costs two SHA-256s, and most subscribers (the
 * metrics bridge) never read it: it is computed on first read of `handle`. The subject
 * stays private (`#`), so neither a spread, nor JSON, nor `util.inspect` shows the sid.
 */
class TracedOperation implements StoreOperationContext {
  readonly operation: StoreOperation;
  readonly #subject: TraceSubject;
  #handle: string | undefined | null = null;
  result?: unknown;
  error?: unknown;

  constructor(operation: StoreOperation, subject: TraceSubject) {
    this.operation = operation;
    this.#subject = subject;
  }

  get handle(): string | undefined {
    if (this.#handle === null) this.#handle = handleOf(this.#subject);
    return this.#handle;
  }
}

/** Run `fn` as one traced revocation; its result (how many ended) reaches subscribers as `result`. */
export function tracedRevocation<T>(kind: RevocationKind, fn: () => Promise<T>): Promise<T> {
  if (!listened(revocationChannel)) return fn();
  return revocationChannel.tracePromise(fn, { operation: "revoke", kind });
}

/** Tell subscribers that a breaker moved from `previous` to `state`. */
export function publishBreakerState(message: BreakerStateMessage): void {
  if (breakerChannel.hasSubscribers) breakerChannel.publish(message);
}

/** The handle of the subject, or undefined for a sid the store refuses (the operation will say why). */
function handleOf(subject: TraceSubject): string | undefined {
  try {
    if ("hex" in subject && typeof subject.hex === "string") return sessionHandle(subject.hex);
    if ("sid" in subject && typeof subject.sid === "string") return sessionHandle(privateHex(subject.sid));
    return undefined;
  } catch {
    return undefined;
  }
}

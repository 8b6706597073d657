/** The static property holding a class's brand (its own, never inherited). */
const BRAND = Symbol.for("rels-session.error.brand");

/** Brands `type` and its instances as `name`: the same symbol in every copy of the library. */
function brand(type: abstract new (...args: never[]) => Error, name: string): void {
  const key = Symbol.for(`rels-session.error.${name}`);
  Object.defineProperty(type, BRAND, { value: key });
  Object.defineProperty(type.prototype, key, { value: true });
}

/**
 * Every error this library throws on purpose is a {@link RelsSessionError}, so an app can
 * tell "the session layer said no" from a bug with one `instanceof`.
 */
export class RelsSessionError extends Error {
  override name = "RelsSessionError";

  static {
    brand(this, "RelsSessionError");
  }

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }

  /**
   * `error instanceof ConfigError` holds whichever copy of this library threw it: the ESM
   * and CommonJS builds are two copies of these classes, so each class is recognised by a
   * process-wide brand (`Symbol.for("rels-session.error.<Name>")`) on its prototype rather
   * than by identity. A subclass without a brand of its own (an app's) keeps the ordinary
   * prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    const key = Object.hasOwn(this, BRAND) ? (this as unknown as Record<symbol, symbol>)[BRAND] : undefined;
    if (key === undefined) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[key] === true;
  }
}

/** One problem found while validating settings: where, what was expected, what was given. */
export interface ConfigIssue {
  /** Dotted path of the bad field, e.g. `redisOptions.url`. */
  readonly path: string;
  readonly message: string;
}

/** Invalid settings. `issues` names every bad field; the message lists them too. */
export class ConfigError extends RelsSessionError {
  override name = "ConfigError";

  static {
    brand(this, "ConfigError");
  }
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(
      `Invalid rels-session configuration:\n${issues.map((i) => `  - ${i.path || "(root)"}: ${i.message}`).join("\n")}`,
      options,
    );
    this.issues = issues;
  }
}

/** Redis could not be reached within the deadline (down, circuit open, command timed out). */
export class RedisUnavailableError extends RelsSessionError {
  override name = "RedisUnavailableError";

  static {
    brand(this, "RedisUnavailableError");
  }
}

/** A session whose serialized form is larger than `maxPayloadBytes`; nothing was written. */
export class SessionPayloadTooLargeError extends RelsSessionError {
  override name = "SessionPayloadTooLargeError";

  static {
    brand(this, "SessionPayloadTooLargeError");
  }
  readonly bytes: number;
  readonly limit: number;

  constructor(bytes: number, limit: number) {
    super(
      `Session payload is ${bytes} bytes, over the ${limit}-byte limit (maxPayloadBytes); it was not saved`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** A session id the store refuses, such as one shaped like a private id (`2::…`). */
export class InvalidSessionIdError extends RelsSessionError {
  override name = "InvalidSessionIdError";

  static {
    brand(this, "InvalidSessionIdError");
  }
}

/** `RELS_SESSION_SERIALIZER=msgpack` (or `serializer: "msgpack"`) without the optional `msgpackr` package. */
export class SerializerUnavailableError extends RelsSessionError {
  override name = "SerializerUnavailableError";

  static {
    brand(this, "SerializerUnavailableError");
  }
}

/** `RelsSession.store()` and friends before `RelsSession.configure()`. */
export class NotConfiguredError extends RelsSessionError {
  override name = "NotConfiguredError";

  static {
    brand(this, "NotConfiguredError");
  }
}

/**
 * A store (or manager) of a configuration that `RelsSession.configure()` has since replaced,
 * or that `close()` ended: its connections are closed. It is a `RedisUnavailableError`
 * because, for that store, Redis is gone for good.
 */
export class StoreReconfiguredError extends RedisUnavailableError {
  override name = "StoreReconfiguredError";

  static {
    brand(this, "StoreReconfiguredError");
  }
}

/** Why a connection to Redis failed, as far as the error behind it tells. */
export type ConnectFailureReason =
  | "connection refused"
  | "unknown host"
  | "TLS certificate rejected"
  | "TLS handshake failed"
  | "authentication failed"
  | "database refused"
  | "not a cluster"
  | "not a sentinel"
  | "timed out"
  | "unsupported version"
  | "connection failed";

/**
 * Redis could not be connected to. The message names where (host:port, never credentials)
 * and why; the error that told us is `cause`. A {@link RedisUnavailableError}, so code that
 * handles "Redis is down" handles this too.
 */
export class RedisConnectionError extends RedisUnavailableError {
  override name = "RedisConnectionError";

  static {
    brand(this, "RedisConnectionError");
  }
  /** `host:port` (or the Sentinel group / Cluster seed nodes) that was tried, without credentials. */
  readonly address: string;
  readonly reason: ConnectFailureReason;

  constructor(address: string, reason: ConnectFailureReason, detail: string, options?: ErrorOptions) {
    super(`Cannot connect to Redis at ${address}: ${reason}${detail ? ` (${detail})` : ""}`, options);
    this.address = address;
    this.reason = reason;
  }
}

/**
 * The server is older than this library needs (its scripts start with `#!lua`: Redis 7.0 or
 * later, or any Valkey). The message names the version found and the one needed; checked
 * once per pool, on first connect. A {@link RedisConnectionError}: the pool will not use it.
 */
export class RedisVersionError extends RedisConnectionError {
  override name = "RedisVersionError";

  static {
    brand(this, "RedisVersionError");
  }

  /** What the server reported, e.g. `Redis 6.2.14`. */
  readonly found: string;
  /** The oldest Redis version supported, e.g. `7.0`. */
  readonly required: string;

  constructor(address: string, found: string, required: string) {
    super(
      address,
      "unsupported version",
      `found ${found}; rels-session needs Redis ${required} or later, or Valkey`,
    );
    this.found = found;
    this.required = required;
  }
}

/**
 * A revocation that Redis applied but no replica confirmed within `durableRevocation`'s
 * timeout: a failover now could bring the sessions back. Retrying is safe (revoking twice
 * is revoking once).
 */
export class RevocationNotReplicatedError extends RelsSessionError {
  override name = "RevocationNotReplicatedError";

  static {
    brand(this, "RevocationNotReplicatedError");
  }
  /** How many sessions the master ended. */
  readonly revoked: number;

  constructor(revoked: number, timeoutMs: number) {
    super(
      `${revoked} session(s) revoked on the master, but no replica confirmed it within ${timeoutMs} ms; retry to be sure it survives a failover`,
    );
    this.revoked = revoked;
  }
}

/**
 * A save the store cannot tell from a revoked session's: a session object it did not read
 * or write, whose record is gone, and whose cookie was issued too long ago to be a new one.
 * Nothing was written (revoked means revoked: where the store cannot tell, it refuses).
 */
export class SessionWriteRefusedError extends RelsSessionError {
  override name = "SessionWriteRefusedError";

  static {
    brand(this, "SessionWriteRefusedError");
  }

  constructor(windowMs: number) {
    super(
      `Refused to save a session this process did not load, whose record is gone and whose cookie was issued more than ${Math.round(windowMs / 60_000)} min ago: it may have been revoked; nothing was written`,
    );
  }
}

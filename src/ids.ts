import { hash } from "node:crypto";
import { InvalidSessionIdError } from "./errors.js";
import { TwoGenerationCache } from "./two-generation-cache.js";

/** Version tag of the private id format, as Rack's `Rack::Session::SessionId#private_id`. */
export const PRIVATE_ID_VERSION = "2";

const PRIVATE_ID_SHAPE = /^\d+::/;
/** express-session's ids are 32-char base64url; generous bounds keep custom `genid`s working. */
const MAX_SID_LENGTH = 256;

/**
 * The private id of a cookie's session id: `"2::" + sha256hex(sid)`.
 *
 * Redis keys are built from this, never from the sid itself, so a leaked key list cannot
 * be replayed as cookies. A sid that already looks like a private id is refused: accepting
 * one would let a client address a session by its storage key.
 */
export function privateId(sid: string): string {
  return privateIdOfHex(privateHex(sid));
}

/**
 * Hex digits of recently hashed sids: a session's every request needs its private id, and a
 * `Map` lookup costs a tenth of a SHA-256. In this process's memory only, bounded like the
 * store's recent reads.
 */
const hexBySid = new TwoGenerationCache<string, string>(10_000);

/** The 64 hex digits of {@link privateId}, without the version tag. */
export function privateHex(sid: string): string {
  const known = hexBySid.get(sid);
  if (known !== undefined) return known;
  assertPublicSid(sid);
  const hex = hash("sha256", sid, "hex");
  hexBySid.set(sid, hex);
  return hex;
}

export function assertPublicSid(sid: unknown): asserts sid is string {
  if (typeof sid !== "string" || sid.length === 0 || sid.length > MAX_SID_LENGTH) {
    throw new InvalidSessionIdError(
      `Session id must be a non-empty string of at most ${MAX_SID_LENGTH} characters`,
    );
  }
  if (PRIVATE_ID_SHAPE.test(sid)) {
    throw new InvalidSessionIdError("Session id is shaped like a private id (`N::…`); refused");
  }
}

/**
 * What a sid may look like to be used as a plain-sid key (`<prefix><sid>`, connect-redis's
 * layout) in the migration modes. express-session's sids are base64url; a uuid or other
 * custom `genid` fits too. Everything else is refused because every key this library owns,
 * under any prefix, has a `:`, `{` or `}` after the prefix (`{2::<hex>}`, `tomb:…`, `user:{…}`,
 * `stats:…`, `2:secure_store_enabled`): a sid without them cannot name one of those keys.
 */
const PLAIN_SID_SHAPE = /^[A-Za-z0-9_.-]{1,256}$/;

/**
 * Sids that fit the shape but name a key of the library's own under the default prefix:
 * the circuit breaker's probe writes `<namespace>:probe` (see `RelsSession.configure`).
 */
const RESERVED_PLAIN_SIDS: ReadonlySet<string> = new Set(["probe"]);

/**
 * Refuse a sid as a plain-sid key (legacy fallback reads, mirror writes, moves, deletes)
 * unless it is made of `[A-Za-z0-9_.-]`, at most 256 characters, and not reserved. Call it
 * before building `Keys.legacy(sid)`: a sid such as `{2::<hex>}`, `user:{alice}` or
 * `2:secure_store_enabled` would otherwise read, overwrite or delete a key that is not a
 * session. The message never holds the sid.
 */
export function assertPlainSidSafe(sid: unknown): asserts sid is string {
  assertPublicSid(sid);
  if (!isPlainSidSafe(sid)) {
    throw new InvalidSessionIdError(
      "Session id cannot be used as a plain-sid key: only [A-Za-z0-9_.-] are accepted while migrating from plain-sid keys",
    );
  }
}

/** Whether {@link assertPlainSidSafe} accepts `sid`, for callers that skip rather than throw. */
export function isPlainSidSafe(sid: unknown): sid is string {
  return typeof sid === "string" && PLAIN_SID_SHAPE.test(sid) && !RESERVED_PLAIN_SIDS.has(sid);
}

/** `2::<hex>` from the 64 hex digits of a private id. */
export function privateIdOfHex(hex: string): string {
  return `${PRIVATE_ID_VERSION}::${hex}`;
}

/** The 64 hex digits of a private id given as `2::<hex>` or bare; undefined for anything else. */
export function hexOfPrivateId(id: string): string | undefined {
  const hex = id.startsWith(`${PRIVATE_ID_VERSION}::`) ? id.slice(PRIVATE_ID_VERSION.length + 2) : id;
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/**
 * The handle that `SessionMeta.sessionId` carries: what an account page renders and what the
 * revoke calls take. Derived one-way from the private id, so it names a session without
 * being a cookie or a Redis key.
 */
export function sessionHandle(hex: string): string {
  let handle = handleByHex.get(hex);
  if (handle === undefined) {
    handle = hash("sha256", `rels-handle:${hex}`, "base64url").slice(0, 22);
    handleByHex.set(hex, handle);
  }
  return handle;
}

/** Handles of recent private ids: every tracked request names its session by handle. */
const handleByHex = new TwoGenerationCache<string, string>(10_000);

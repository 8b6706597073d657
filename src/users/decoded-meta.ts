import type { MetaValue } from "../record/meta-section.js";
import { TwoGenerationCache } from "../two-generation-cache.js";
import { TUNABLES } from "../tunables.js";
import { decodeSessionMeta } from "./meta-codec.js";
import type { SessionMeta } from "./meta-schema.js";

/**
 * Metadata decoded on tracked requests (see `DecodedMetaCache#of`), by the handle of the
 * request's session, with the stored value it was decoded from. Each session has one entry
 * until its metadata changes (at most once per `lastSeenInterval`). Bounded in entries and in
 * size (`TUNABLES.users.decodedMeta`): bigger stored metadata is decoded every time, never kept.
 */
const {
  entries: DECODED_META_MAX,
  maxChars: DECODED_META_MAX_CHARS,
  maxContainers: DECODED_META_MAX_CONTAINERS,
  maxSeparators: DECODED_META_MAX_SEPARATORS,
} = TUNABLES.users.decodedMeta;

interface DecodedMeta {
  /** The stored value, as JSON data of its own (a later change to the session's object cannot reach it). */
  readonly stored: unknown;
  /** What it decoded to. Never handed out: callers get a copy. */
  readonly meta: SessionMeta;
}

/** The manager's memo of decoded metadata: a tracked request decodes its session's metadata once per change. */
export class DecodedMetaCache {
  readonly #entries = new TwoGenerationCache<string, DecodedMeta>(DECODED_META_MAX);

  /**
   * The metadata stored in the session `handle`, decoded. Decoding validates and re-cleans
   * every field (two zod parses): on a tracked request, where the same metadata comes back
   * from Redis request after request, it is decoded once per change. The value stored is
   * compared field by field with the one last decoded for this session, which costs far less
   * than turning it into JSON to look it up. What this returns may be the remembered decoding
   * itself: the caller copies before anything leaves the manager.
   */
  of(raw: MetaValue | undefined, handle: string): SessionMeta | null {
    if (raw === undefined || raw === null) return null;
    const remembered = this.#entries.get(handle);
    // The record's section, as read: the same text decodes to the same metadata.
    if (typeof raw === "string") {
      if (remembered && remembered.stored === raw) return remembered.meta;
      let data: unknown;
      try {
        data = JSON.parse(raw);
      } catch {
        return null;
      }
      const decoded = decodeSessionMeta(data);
      if (decoded && raw.length <= DECODED_META_MAX_CHARS)
        this.#entries.set(handle, { stored: raw, meta: copyMeta(decoded) });
      return decoded;
    }
    if (remembered && sameStoredData(raw, remembered.stored)) return remembered.meta;
    const meta = decodeSessionMeta(raw);
    if (meta) this.#remember(handle, raw, meta);
    return meta;
  }

  /**
   * Remember `meta` as what the session `handle`'s stored `raw` decodes to, only when any
   * value holding the same JSON data decodes to it too: `raw`'s JSON copy must decode to the
   * same metadata (a `toJSON`, a Date, or a getter that answers differently each time would
   * not), and be small (see `DECODED_META_MAX_CHARS`). Keyed by the handle of the request's
   * own session, so one session's stored metadata never answers for another's.
   */
  #remember(handle: string, raw: unknown, meta: SessionMeta): void {
    let json: string | undefined;
    try {
      json = JSON.stringify(raw);
    } catch {
      // Not JSON (a cycle, a BigInt, a throwing getter): never from Redis; not remembered.
    }
    if (json === undefined || json.length > DECODED_META_MAX_CHARS || !isSmallStructure(json)) return;
    const stored: unknown = JSON.parse(json);
    const again = decodeSessionMeta(stored);
    if (again === null || JSON.stringify(again) !== JSON.stringify(meta)) return;
    this.#entries.set(handle, { stored, meta: copyMeta(meta) });
  }
}

/**
 * Whether JSON text opens at most `DECODED_META_MAX_CONTAINERS` objects and arrays and holds
 * at most `DECODED_META_MAX_SEPARATORS` commas and colons (so values). Brackets, commas and
 * colons inside strings count too: an upper bound.
 */
function isSmallStructure(json: string): boolean {
  let containers = 0;
  let separators = 0;
  for (let i = 0; i < json.length; i++) {
    const code = json.charCodeAt(i);
    if (code === 0x7b || code === 0x5b) containers++;
    else if (code === 0x2c || code === 0x3a) separators++;
  }
  return containers <= DECODED_META_MAX_CONTAINERS && separators <= DECODED_META_MAX_SEPARATORS;
}

/** `sameData`, false when reading `value` throws (a getter or a proxy of the caller's: never from Redis). */
function sameStoredData(value: unknown, stored: unknown): boolean {
  try {
    return sameData(value, stored);
  } catch {
    return false;
  }
}

/**
 * Whether `value` holds the same data as `stored`, JSON data (plain objects, arrays, strings,
 * numbers, booleans, null): the same keys with the same values, at every depth. What is
 * compared is bounded by `stored`; a Date, a class instance, an array where `stored` has an
 * object, or an object with a non-enumerable field is never the same. A proxy is read through
 * its traps, a getter by calling it.
 */
function sameData(value: unknown, stored: unknown): boolean {
  if (stored === null || typeof stored !== "object") return value === stored;
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(stored)) {
    if (!Array.isArray(value) || value.length !== stored.length) return false;
    for (let i = 0; i < stored.length; i++) if (!sameData(value[i], stored[i])) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value) || (proto !== Object.prototype && proto !== null)) return false;
  const keys = Object.keys(stored);
  // Every own name, not only the enumerable ones: zod reads a field whatever its flags.
  if (Object.getOwnPropertyNames(value).length !== keys.length) return false;
  for (const key of keys) {
    if (
      !Object.hasOwn(value, key) ||
      !sameData((value as Record<string, unknown>)[key], (stored as Record<string, unknown>)[key])
    )
      return false;
  }
  return true;
}

/** A copy that shares nothing mutable with `meta` (its dates and its browser, OS and app). */
export function copyMeta(meta: SessionMeta): SessionMeta {
  const copy: SessionMeta = {
    ...meta,
    signInAt: new Date(meta.signInAt),
    lastSeenAt: new Date(meta.lastSeenAt),
    createdAt: new Date(meta.createdAt),
    expiresAt: new Date(meta.expiresAt),
  };
  if (meta.absoluteExpiresAt) copy.absoluteExpiresAt = new Date(meta.absoluteExpiresAt);
  if (meta.authenticatedAt) copy.authenticatedAt = new Date(meta.authenticatedAt);
  if (meta.browser) copy.browser = { ...meta.browser };
  if (meta.os) copy.os = { ...meta.os };
  if (meta.app) copy.app = { ...meta.app };
  return copy;
}

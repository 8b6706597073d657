/**
 * Session metadata in and out of Redis: `encodeSessionMeta` (JSON, dates as ISO text) and
 * the tolerant `decodeSessionMeta` (every field catches its own failure; older and partial
 * writers read). Pure; no Redis here.
 *
 * @module
 */
import { z } from "zod";
import { cleanText } from "./text.js";
import {
  clientPlatformSchema,
  deviceTypeSchema,
  idLikeSchema,
  META_FIELD_CAPS,
  sessionKeyTypeSchema,
} from "./meta-fields.js";
import { sessionMetaSchema, type SessionMeta } from "./meta-schema.js";

/**
 * Serialises session metadata for storage: JSON, with every date as an ISO-8601
 * string. Only the fields of {@link SessionMeta} are written, so stray properties
 * on the argument (say, the cookie's session id) are never persisted.
 *
 * @throws RangeError when one of the dates is an invalid `Date`.
 */
export function encodeSessionMeta(meta: SessionMeta): string {
  const stored = {
    sessionId: meta.sessionId,
    userId: meta.userId,
    applicationName: meta.applicationName,
    sessionKeyType: meta.sessionKeyType,
    ip: meta.ip,
    userAgent: meta.userAgent,
    appVersion: meta.appVersion,
    installationId: meta.installationId,
    device: meta.device,
    courseId: meta.courseId,
    clientPlatform: meta.clientPlatform,
    // Undefined (a session recorded before device fields) is left out by JSON.stringify.
    browser: meta.browser,
    os: meta.os,
    deviceType: meta.deviceType,
    app: meta.app,
    signInAt: meta.signInAt.toISOString(),
    lastSeenAt: meta.lastSeenAt.toISOString(),
    createdAt: meta.createdAt.toISOString(),
    expiresAt: meta.expiresAt.toISOString(),
  } satisfies Record<keyof SessionMeta, unknown>;
  return JSON.stringify(stored);
}

/** Values {@link decodeSessionMeta} uses when the stored record lacks them. */
export interface SessionMetaFallback {
  /** Used when the record has no usable `sessionId`, e.g. the one in its Redis key. */
  sessionId?: string | undefined;
  /** Used when the record has no usable `userId`, e.g. the one in its Redis key. */
  userId?: string | undefined;
  /** Used when the record has no usable `expiresAt`, e.g. derived from the key's TTL. */
  expiresAt?: Date | undefined;
}

/**
 * Stored strings are re-cleaned and re-capped on the way out: older records, other
 * writers or a direct edit in Redis may not have applied today's caps.
 */
const storedText = (cap: number) =>
  z
    .string()
    .transform((value) => cleanText(value, cap))
    .nullable()
    .catch(null);

/** A stored browser or OS: re-cleaned like every stored string; unusable → null. */
const storedSoftwareSchema = z
  .object({
    name: z.string().transform((value) => cleanText(value, META_FIELD_CAPS.softwareName)),
    version: storedText(META_FIELD_CAPS.softwareVersion)
      .optional()
      .transform((value) => value ?? null),
  })
  .transform((value) => (value.name === null ? null : { name: value.name, version: value.version }))
  .nullable()
  .optional()
  .catch(null);

const storedAppSchema = z
  .object({
    name: storedText(META_FIELD_CAPS.softwareName)
      .optional()
      .transform((value) => value ?? null),
    version: storedText(META_FIELD_CAPS.appVersion)
      .optional()
      .transform((value) => value ?? null),
  })
  .nullable()
  .optional()
  .catch(null);

const storedDateSchema = z
  .union([
    z.date(),
    z.iso.datetime({ offset: true }).transform((iso) => new Date(iso)),
    // Epoch milliseconds, as some older writers stored them.
    z
      .number()
      .int()
      .nonnegative()
      .transform((ms) => new Date(ms)),
  ])
  // Rejects dates that parse but are out of range (an Invalid Date).
  .pipe(z.date())
  .nullable()
  .catch(null);

/**
 * Tolerant reading of a stored record: every field catches its own failure, so one
 * bad field degrades to a default instead of losing the whole session from the
 * user's session list. Unknown keys are dropped by `z.object`.
 */
const storedSessionMetaSchema = z.object({
  sessionId: z.string().min(1).optional().catch(undefined),
  userId: z.string().min(1).optional().catch(undefined),
  applicationName: z.string().catch(""),
  // Records written before tokens existed were all cookie sessions.
  sessionKeyType: sessionKeyTypeSchema.catch("cookie"),
  ip: storedText(META_FIELD_CAPS.ip),
  userAgent: storedText(META_FIELD_CAPS.userAgent),
  appVersion: storedText(META_FIELD_CAPS.appVersion),
  installationId: storedText(META_FIELD_CAPS.installationId),
  device: storedText(META_FIELD_CAPS.device),
  courseId: idLikeSchema
    .transform((value) => cleanText(value, META_FIELD_CAPS.courseId))
    .nullable()
    .catch(null),
  clientPlatform: clientPlatformSchema.catch("web"),
  // Optional: sessions recorded before device fields existed have none, and keep none.
  browser: storedSoftwareSchema,
  os: storedSoftwareSchema,
  deviceType: deviceTypeSchema.optional().catch(undefined),
  app: storedAppSchema,
  signInAt: storedDateSchema,
  lastSeenAt: storedDateSchema,
  createdAt: storedDateSchema,
  expiresAt: storedDateSchema,
});

/**
 * Reads session metadata as stored by {@link encodeSessionMeta}, or by any older or
 * partial writer.
 *
 * Tolerant by design: missing or mistyped optional fields become `null`,
 * `sessionKeyType` defaults to `"cookie"`, `clientPlatform` to `"web"` and
 * `applicationName` to `""`; missing dates are filled from each other (`createdAt`
 * ← `signInAt` ← `lastSeenAt`) and `expiresAt` from `fallback`; unknown fields are
 * ignored; header-like strings are cleaned and capped again.
 *
 * @param raw - The stored JSON string, or an already-parsed object.
 * @param fallback - Values to use when the record lacks them.
 * @returns The metadata, or `null` (never throws) when `raw` is not JSON or not an
 *   object, or when no `sessionId`, `userId`, creation date or expiry can be found.
 * @example
 * ```ts
 * const meta = decodeSessionMeta(await redis.get(key), { expiresAt: new Date(Date.now() + ttlMs) });
 * ```
 */
export function decodeSessionMeta(raw: unknown, fallback: SessionMetaFallback = {}): SessionMeta | null {
  try {
    return decodeRecord(toSafeRecord(raw), fallback);
  } catch {
    // Text that is not JSON, or a value of the caller's that throws when read (a getter, a
    // revoked proxy, a Date-like object whose methods throw): unusable, as promised.
    return null;
  }
}

function decodeRecord(
  record: Record<string, unknown> | null,
  fallback: SessionMetaFallback,
): SessionMeta | null {
  if (record === null) return null;
  const parsed = storedSessionMetaSchema.safeParse(record);
  if (!parsed.success) return null;
  const stored = parsed.data;

  const createdAt = stored.createdAt ?? stored.signInAt ?? stored.lastSeenAt;
  const signInAt = stored.signInAt ?? createdAt;
  const lastSeenAt = stored.lastSeenAt ?? signInAt;
  const candidate = {
    sessionId: stored.sessionId ?? fallback.sessionId,
    userId: stored.userId ?? fallback.userId,
    applicationName: stored.applicationName,
    sessionKeyType: stored.sessionKeyType,
    ip: stored.ip,
    userAgent: stored.userAgent,
    appVersion: stored.appVersion,
    installationId: stored.installationId,
    device: stored.device,
    courseId: stored.courseId,
    clientPlatform: stored.clientPlatform,
    browser: stored.browser,
    os: stored.os,
    deviceType: stored.deviceType,
    app: stored.app,
    signInAt,
    lastSeenAt,
    createdAt,
    expiresAt: stored.expiresAt ?? fallback.expiresAt,
  };
  // The strict schema is the single judge of "usable": it rejects a missing or
  // empty id, a missing date and an invalid fallback date alike.
  const result = sessionMetaSchema.safeParse(candidate);
  return result.success ? result.data : null;
}

/** Keys that could reach an object's prototype if ever copied or merged. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/**
 * JSON string or plain object → own data properties in a null-prototype record. Throws on
 * text that is not JSON, or on a caller's object whose getter throws: `decodeSessionMeta`
 * turns any throw into null.
 */
function toSafeRecord(raw: unknown): Record<string, unknown> | null {
  // Returning undefined from the reviver deletes the key at every depth.
  const value: unknown =
    typeof raw === "string"
      ? JSON.parse(raw, (key, nested: unknown) => (FORBIDDEN_KEYS.has(key) ? undefined : nested))
      : raw;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const record: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, field] of Object.entries(value)) {
    if (!FORBIDDEN_KEYS.has(key)) record[key] = field;
  }
  return record;
}

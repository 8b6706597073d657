/**
 * Session metadata as it is stored: the `SessionMeta` schema with its enums and caps,
 * and how it is encoded for Redis and tolerantly decoded back. Pure functions only; no
 * Redis here.
 *
 * @module
 */
import { z } from "zod";
import { cleanText, codePointLength } from "./text.js";
import { CLIENT_PLATFORMS } from "../record/platforms.js";

export { CLIENT_PLATFORMS, isClientPlatform, type ClientPlatform } from "../record/platforms.js";

/** Schema for {@link ClientPlatform}. */
export const clientPlatformSchema = z.enum(CLIENT_PLATFORMS);

/** How the client presents its session key. */
export const SESSION_KEY_TYPES = ["cookie", "token"] as const;

/** Schema for {@link SessionKeyType}. */
export const sessionKeyTypeSchema = z.enum(SESSION_KEY_TYPES);

/**
 * `"cookie"` for browser sessions carried by the session cookie, `"token"` for
 * clients (the apps) that send the key in a header.
 */
export type SessionKeyType = z.infer<typeof sessionKeyTypeSchema>;

/**
 * Maximum length, in Unicode code points, of every metadata field that comes from
 * request headers or the session. These values are chosen by the client, so they
 * are capped before they are stored, listed or rendered; the caps leave room for
 * every legitimate value seen in practice and little else.
 */
export const META_FIELD_CAPS = {
  /**
   * Client address. The longest textual IPv6 address is 45 characters (an
   * IPv4-mapped address written out in full); 64 also fits a zone id such as
   * `fe80::1%enp0s31f6`.
   */
  ip: 64,
  /**
   * `User-Agent`. Current browser UAs are 100–200 characters and in-app browsers
   * that append their own tokens usually stay under 400.
   */
  userAgent: 512,
  /**
   * `AppVersion` sent by the apps: a version such as `5.12.0`, with room for
   * pre-release and build metadata (`5.12.0-beta.3+build.20250101`).
   */
  appVersion: 64,
  /**
   * `X-INSTALLATION-ID`: a UUID (36) or a platform installation id; 128 also fits
   * a hex-encoded SHA-512 digest should the apps ever send a hashed id.
   */
  installationId: 128,
  /**
   * `X-DEVICE`: a model identifier (`iPhone15,2`, `SM-S918B`) or a marketing name
   * with manufacturer (`samsung Galaxy S23 Ultra`).
   */
  device: 128,
  /**
   * `X-COURSE-ID` or the session's course: a UUID (36) or a numeric id, with room
   * for a prefixed identifier.
   */
  courseId: 128,
  /**
   * Browser, OS or app name as parsed from the User-Agent (`Samsung Internet for
   * Android`, `Chrome OS`) or taken from the app's own product token (`Turtle`).
   */
  softwareName: 64,
  /** Browser, OS or app version (`141.0.7390.41`, `10.15.7`, `5.12.0-beta.3`). */
  softwareVersion: 64,
  /**
   * How the session last authenticated (`authMethod`): `"sign-in"`, `"password"`,
   * `"second-factor"`, or a name of the app's (`"passkey"`, `"sso:okta"`).
   */
  authMethod: 64,
} as const;

/**
 * What kind of device a session runs on: a desktop or laptop browser, a phone or
 * tablet browser, the native apps, or `"unknown"` (bots, scripts, no User-Agent).
 */
export const DEVICE_TYPES = ["desktop", "mobile", "tablet", "app", "unknown"] as const;

/** Schema for {@link DeviceType}. */
export const deviceTypeSchema = z.enum(DEVICE_TYPES);

/** See {@link DEVICE_TYPES}. */
export type DeviceType = z.infer<typeof deviceTypeSchema>;

/** A header- or session-derived string: at most `cap` code points, or null. */
const cappedText = (cap: number) =>
  z
    .string()
    .refine((value) => codePointLength(value, cap + 1) <= cap, {
      message: `Expected at most ${cap} code points`,
    })
    .nullable();

/** A browser, OS or app: a name, and its version when the client tells it. */
export const softwareSchema = z.object({
  /** `Chrome`, `Safari`, `Microsoft Edge`, `iOS`, `Windows`, `Turtle`… */
  name: z
    .string()
    .min(1)
    .refine(
      (value) => codePointLength(value, META_FIELD_CAPS.softwareName + 1) <= META_FIELD_CAPS.softwareName,
      {
        message: `Expected at most ${META_FIELD_CAPS.softwareName} code points`,
      },
    ),
  /** As the client sent it (`141.0.0.0`, `18.6`, `NT 10.0`); null when it sent none. */
  version: cappedText(META_FIELD_CAPS.softwareVersion),
});

/** A browser, OS or app with its version; see {@link softwareSchema}. */
export type Software = z.infer<typeof softwareSchema>;

/**
 * Schema of the metadata persisted with each authenticated session. Use
 * {@link encodeSessionMeta} / {@link decodeSessionMeta} to move it in and out of
 * Redis; decoding is tolerant, this schema is the strict shape it produces.
 */
export const sessionMetaSchema = z.object({
  /**
   * Opaque handle for this session, safe to put in HTML, URLs and logs (for
   * "sign out this device"). Never the session id stored in the cookie: whoever
   * learns that can use the session.
   */
  sessionId: z.string().min(1),
  /** The authenticated user the session belongs to. */
  userId: z.string().min(1),
  /** Name of the application that created the session; `""` when unknown. */
  applicationName: z.string(),
  /** How the client presents its session key. */
  sessionKeyType: sessionKeyTypeSchema,
  /** Client IP as Express resolved it (`req.ip`), honouring `trust proxy`. */
  ip: cappedText(META_FIELD_CAPS.ip),
  /** `User-Agent` header. */
  userAgent: cappedText(META_FIELD_CAPS.userAgent),
  /** `AppVersion` header, sent by the native apps. */
  appVersion: cappedText(META_FIELD_CAPS.appVersion),
  /** `X-INSTALLATION-ID` header, sent by the native apps. */
  installationId: cappedText(META_FIELD_CAPS.installationId),
  /** `X-DEVICE` header: device model as reported by the native apps. */
  device: cappedText(META_FIELD_CAPS.device),
  /** `X-COURSE-ID` header, else the course held in the session. */
  courseId: cappedText(META_FIELD_CAPS.courseId),
  /** Platform detected from the headers above; see {@link detectClientPlatform}. */
  clientPlatform: clientPlatformSchema,
  /**
   * Browser parsed from the User-Agent; null when none is recognised (apps, scripts).
   * Absent from sessions recorded before device fields existed.
   */
  browser: softwareSchema.nullable().optional(),
  /**
   * Operating system, from the User-Agent (and, for the apps, `X-DEVICE`); null when
   * unknown. Absent from sessions recorded before device fields existed.
   */
  os: softwareSchema.nullable().optional(),
  /** See {@link DEVICE_TYPES}. Absent from sessions recorded before device fields existed. */
  deviceType: deviceTypeSchema.optional(),
  /**
   * The native app, for requests that send `AppVersion` or `X-INSTALLATION-ID`: its
   * name from the User-Agent's product token (`Turtle/5.12.0 (iPhone; …)`), null when
   * that is a generic HTTP library (`okhttp`, `Dalvik`, `CFNetwork`), and its version
   * from `AppVersion`. Null for browsers; absent from older sessions.
   */
  app: z
    .object({ name: softwareSchema.shape.name.nullable(), version: cappedText(META_FIELD_CAPS.appVersion) })
    .nullable()
    .optional(),
  /** When the user authenticated in this session. */
  signInAt: z.date(),
  /** Last request seen with this session. */
  lastSeenAt: z.date(),
  /** When this session record was created. */
  createdAt: z.date(),
  /** When the session expires unless it is touched again. */
  expiresAt: z.date(),
  /**
   * When the session ends whatever its activity: its lifetime profile's absolute lifetime,
   * counted from `signInAt` (see `sessions.lifetimes`). Null, or absent, when it has none.
   */
  absoluteExpiresAt: z.date().nullable().optional(),
  /**
   * When the session last authenticated: its sign-in, or the last `markFresh`. What
   * `requireFreshSession` judges. Absent from sessions recorded before it existed, which
   * count as authenticated at `signInAt`.
   */
  authenticatedAt: z.date().optional(),
  /**
   * How it last authenticated: `"sign-in"` (the default at sign-in), `"password"`,
   * `"second-factor"`, or the app's own name (at most 64 code points). Absent from
   * sessions recorded before it existed (read as `"sign-in"`).
   */
  authMethod: cappedText(META_FIELD_CAPS.authMethod).unwrap().min(1).optional(),
});

/** Metadata persisted with each authenticated session. */
export type SessionMeta = z.infer<typeof sessionMetaSchema>;

/** The native app a session runs in; see {@link SessionMeta}.app. */
export type AppInfo = NonNullable<SessionMeta["app"]>;

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
    // Undefined (no lifetime profile, or metadata recorded before them) is left out.
    absoluteExpiresAt: meta.absoluteExpiresAt ? meta.absoluteExpiresAt.toISOString() : undefined,
    authenticatedAt: meta.authenticatedAt?.toISOString(),
    authMethod: meta.authMethod,
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

/** A course id may have been stored as a number by older writers. */
export const idLikeSchema = z.union([z.string(), z.number().transform(String)]);

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
  absoluteExpiresAt: storedDateSchema,
  authenticatedAt: storedDateSchema,
  authMethod: storedText(META_FIELD_CAPS.authMethod),
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
    // Absent from metadata recorded without a lifetime profile, or before freshness existed
    // (whose readers take `signInAt` and "sign-in"), and kept absent.
    ...(stored.absoluteExpiresAt ? { absoluteExpiresAt: stored.absoluteExpiresAt } : {}),
    ...(stored.authenticatedAt ? { authenticatedAt: stored.authenticatedAt } : {}),
    ...(stored.authMethod ? { authMethod: stored.authMethod } : {}),
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

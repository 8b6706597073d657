/**
 * Session metadata: what is persisted next to each authenticated session (who,
 * from where, on which client, when), how it is encoded for Redis, and how it is
 * derived from an incoming request. Pure functions only; no Redis here.
 *
 * @module
 */
import type { Parser } from "bowser";
import { getParser } from "bowser";
import { z } from "zod";

/** Client platforms a session can be attributed to. */
export const CLIENT_PLATFORMS = ["ios_app", "android_app", "mobile_web", "web"] as const;

/** Schema for {@link ClientPlatform}. */
export const clientPlatformSchema = z.enum(CLIENT_PLATFORMS);

/**
 * Where a session is used from: one of the native apps, a browser on a phone or
 * tablet, or anything else (desktop browsers, bots, scripts, unknown clients).
 */
export type ClientPlatform = z.infer<typeof clientPlatformSchema>;

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
    .refine((value) => codePointLength(value, META_FIELD_CAPS.softwareName + 1) <= META_FIELD_CAPS.softwareName, {
      message: `Expected at most ${META_FIELD_CAPS.softwareName} code points`,
    }),
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
});

/** Metadata persisted with each authenticated session. */
export type SessionMeta = z.infer<typeof sessionMetaSchema>;

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
    version: storedText(META_FIELD_CAPS.softwareVersion).optional().transform((value) => value ?? null),
  })
  .transform((value) => (value.name === null ? null : { name: value.name, version: value.version }))
  .nullable()
  .optional()
  .catch(null);

const storedAppSchema = z
  .object({
    name: storedText(META_FIELD_CAPS.softwareName).optional().transform((value) => value ?? null),
    version: storedText(META_FIELD_CAPS.appVersion).optional().transform((value) => value ?? null),
  })
  .nullable()
  .optional()
  .catch(null);

/** A course id may have been stored as a number by older writers. */
const idLikeSchema = z.union([z.string(), z.number().transform(String)]);

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
  const record = toSafeRecord(raw);
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

/** JSON string or plain object → own data properties in a null-prototype record. */
function toSafeRecord(raw: unknown): Record<string, unknown> | null {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      // Returning undefined from the reviver deletes the key at every depth.
      value = JSON.parse(raw, (key, nested: unknown) => (FORBIDDEN_KEYS.has(key) ? undefined : nested));
    } catch {
      return null;
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const record: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  try {
    for (const [key, field] of Object.entries(value)) {
      if (!FORBIDDEN_KEYS.has(key)) record[key] = field;
    }
  } catch {
    // A throwing getter on a caller-supplied object; decoding promises not to throw.
    return null;
  }
  return record;
}

/**
 * The subset of an Express `Request` that {@link requestMetadata} reads; an Express
 * `Request` is assignable to it.
 */
export interface RequestLike {
  /** Client address as Express resolved it, honouring the app's `trust proxy`. */
  ip?: string | undefined;
  /** Request headers, names lower-cased as Node delivers them. */
  headers: Record<string, string | string[] | undefined>;
  /** The express-session object, consulted for the course when no header names one. */
  session?: object | undefined;
}

/** Request-derived part of {@link SessionMeta}. Every string is cleaned, capped, or null. */
export interface RequestMetadata {
  /** `req.ip`, capped to {@link META_FIELD_CAPS}.ip. */
  ip: string | null;
  /** `User-Agent`, capped to {@link META_FIELD_CAPS}.userAgent. */
  userAgent: string | null;
  /** `AppVersion`, capped to {@link META_FIELD_CAPS}.appVersion. */
  appVersion: string | null;
  /** `X-INSTALLATION-ID`, capped to {@link META_FIELD_CAPS}.installationId. */
  installationId: string | null;
  /** `X-DEVICE`, capped to {@link META_FIELD_CAPS}.device. */
  device: string | null;
  /**
   * `X-COURSE-ID`, else the session's `course_uuid`, else its `course_id`; capped
   * to {@link META_FIELD_CAPS}.courseId.
   */
  courseId: string | null;
  /** See {@link detectClientPlatform}. */
  clientPlatform: ClientPlatform;
  /**
   * See {@link SessionMeta}.browser. The four device fields are always set by
   * {@link requestMetadata}; they are optional here so that metadata recorded before
   * they existed still fits this shape.
   */
  browser?: Software | null | undefined;
  /** See {@link SessionMeta}.os. */
  os?: Software | null | undefined;
  /** See {@link SessionMeta}.deviceType. */
  deviceType?: DeviceType | undefined;
  /** See {@link SessionMeta}.app. */
  app?: AppInfo | null | undefined;
}

/** The native app a session runs in; see {@link SessionMeta}.app. */
export type AppInfo = NonNullable<SessionMeta["app"]>;

/** What {@link describeDevice} derives from a request's headers. */
export interface DeviceMetadata {
  clientPlatform: ClientPlatform;
  browser: Software | null;
  os: Software | null;
  deviceType: DeviceType;
  app: AppInfo | null;
}

/** Header names as Node delivers them (lower-cased). */
const METADATA_HEADERS = {
  userAgent: "user-agent",
  appVersion: "appversion",
  installationId: "x-installation-id",
  device: "x-device",
  courseId: "x-course-id",
} as const;

const sessionCourseSchema = z.object({
  course_uuid: idLikeSchema.optional().catch(undefined),
  course_id: idLikeSchema.optional().catch(undefined),
});

/**
 * Extracts the metadata to store with a session from the request that signs in or
 * uses it.
 *
 * The IP is `req.ip`, so Express's `trust proxy` setting decides which
 * `X-Forwarded-For` entry (if any) is believed; this function never reads that
 * header itself, because only the app knows how many proxies it sits behind.
 * Every header- and session-derived value is trimmed, stripped of control and
 * bidirectional/format characters, capped to {@link META_FIELD_CAPS} (by code
 * point, never splitting a surrogate pair), and `null` when empty.
 *
 * @example
 * ```ts
 * app.set("trust proxy", 1);
 * app.post("/login", (req, res) => {
 *   const { ip, userAgent, clientPlatform } = requestMetadata(req);
 * });
 * ```
 *
 * @param previous - The metadata of this session's last request, if known: when the
 *   signals the platform depends on are unchanged, its platform is reused instead of
 *   parsing the user agent again (the costliest step, on every tracked request).
 */
export function requestMetadata(req: RequestLike, previous?: RequestMetadata): RequestMetadata {
  const userAgent = cleanText(firstHeader(req, METADATA_HEADERS.userAgent), META_FIELD_CAPS.userAgent);
  const appVersion = cleanText(firstHeader(req, METADATA_HEADERS.appVersion), META_FIELD_CAPS.appVersion);
  const installationId = cleanText(
    firstHeader(req, METADATA_HEADERS.installationId),
    META_FIELD_CAPS.installationId,
  );
  const device = cleanText(firstHeader(req, METADATA_HEADERS.device), META_FIELD_CAPS.device);
  const courseId =
    cleanText(firstHeader(req, METADATA_HEADERS.courseId), META_FIELD_CAPS.courseId) ??
    courseFromSession(req.session);
  const signals = { userAgent, appVersion, installationId, device };
  // Parsing the User-Agent is the costliest step of every tracked request: reuse what
  // the session's last request gave when none of the signals it depends on changed.
  const reusable =
    previous !== undefined &&
    previous.deviceType !== undefined &&
    previous.userAgent === userAgent &&
    previous.appVersion === appVersion &&
    previous.installationId === installationId &&
    previous.device === device;
  return {
    ip: cleanText(req.ip, META_FIELD_CAPS.ip),
    ...signals,
    courseId,
    ...(reusable
      ? {
          clientPlatform: previous.clientPlatform,
          browser: previous.browser ?? null,
          os: previous.os ?? null,
          deviceType: previous.deviceType ?? "unknown",
          app: previous.app ?? null,
        }
      : describeDevice(signals)),
  };
}

function firstHeader(req: RequestLike, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function courseFromSession(session: object | undefined): string | null {
  if (session === undefined) return null;
  const parsed = sessionCourseSchema.safeParse(session);
  if (!parsed.success) return null;
  return (
    cleanText(parsed.data.course_uuid, META_FIELD_CAPS.courseId) ??
    cleanText(parsed.data.course_id, META_FIELD_CAPS.courseId)
  );
}

/**
 * X-DEVICE model hints. The apps send a model identifier or name there, which
 * bowser does not parse; these few prefixes cover Apple identifiers and the common
 * Android makers. Anything else falls through to the User-Agent.
 */
const IOS_DEVICE_HINT = /\b(?:iphone|ipad|ipod|ipados|ios)(?![a-z])/i;
const ANDROID_DEVICE_HINT = /\b(?:android|pixel|samsung|galaxy|sm-[a-z]\d|xiaomi|redmi|oneplus|motorola)(?![a-z])/i;

type AppOs = "ios" | "android";

/**
 * Classifies the client a request comes from.
 *
 * A request from the native apps (it sends `AppVersion` or `X-INSTALLATION-ID`) is
 * `"ios_app"` or `"android_app"`, judged from `X-DEVICE` first and then from the
 * User-Agent's OS as parsed by bowser. If neither reveals the OS (an `okhttp/4.12.0`
 * UA with no device), the request is classified like a browser. For browsers,
 * bowser's platform type decides: mobile or tablet → `"mobile_web"`; desktop,
 * bots, unparseable or missing UAs → `"web"`.
 *
 * Note: iPadOS Safari requests the desktop site by default and sends a Macintosh
 * User-Agent, so by UA alone an iPad browser is `"web"`.
 */
export function detectClientPlatform(
  signals: Pick<RequestMetadata, "userAgent" | "appVersion" | "installationId" | "device">,
): ClientPlatform {
  return describeDevice(signals).clientPlatform;
}

/**
 * Generic HTTP stacks the apps may send as their User-Agent: their product token
 * names the library, not the app.
 */
const GENERIC_CLIENT_TOKENS: ReadonlySet<string> = new Set(["mozilla", "okhttp", "dalvik", "cfnetwork", "darwin", "dart", "ktor-client"]);

/** `Turtle/5.12.0 (iPhone; …)` → `Turtle`: the first product token, when it is not a library's. */
function appNameFromUserAgent(userAgent: string | null): string | null {
  const token = /^([A-Za-z][\w.+-]*)(?:\/|\s|$)/.exec(userAgent ?? "")?.[1];
  if (token === undefined || GENERIC_CLIENT_TOKENS.has(token.toLowerCase())) return null;
  return cleanText(token, META_FIELD_CAPS.softwareName);
}

const OS_NAMES: Readonly<Record<AppOs, string>> = { ios: "iOS", android: "Android" };

/**
 * Everything the headers say about the client, from one parse of the User-Agent: the
 * platform (see {@link detectClientPlatform}), browser, OS, device type and, for the
 * native apps, the app's name and version. Best-effort and total: an unparseable or
 * missing User-Agent gives nulls and `"unknown"`, never an error.
 */
export function describeDevice(
  signals: Pick<RequestMetadata, "userAgent" | "appVersion" | "installationId" | "device">,
): DeviceMetadata {
  const parser = parseUserAgent(signals.userAgent);
  const parsedOs = software(parser?.getOSName(), parser?.getOSVersion());
  const parsedBrowser = software(parser?.getBrowserName(), parser?.getBrowserVersion());
  if (hasText(signals.appVersion) || hasText(signals.installationId)) {
    const appOs = osFromDevice(signals.device) ?? osFromParser(parser);
    const app: AppInfo = {
      name: appNameFromUserAgent(signals.userAgent),
      version: signals.appVersion,
    };
    // The app's own OS when the headers reveal it, with the UA's version if that agrees.
    const os =
      appOs === null
        ? parsedOs
        : { name: OS_NAMES[appOs], version: osFromParser(parser) === appOs ? (parsedOs?.version ?? null) : null };
    // A web view's browser is not the user's browser: an app session has none.
    const clientPlatform: ClientPlatform =
      appOs === "ios" ? "ios_app" : appOs === "android" ? "android_app" : platformOfBrowser(parser);
    return { clientPlatform, browser: null, os, deviceType: "app", app };
  }
  const platformType = parser?.getPlatformType(true);
  const deviceType: DeviceType =
    platformType === "desktop" || platformType === "mobile" || platformType === "tablet" ? platformType : "unknown";
  return { clientPlatform: platformOfBrowser(parser), browser: parsedBrowser, os: parsedOs, deviceType, app: null };
}

/** Browsers: a phone or tablet is `"mobile_web"`; desktops, bots and unknowns `"web"`. */
function platformOfBrowser(parser: Parser | null): ClientPlatform {
  const platformType = parser?.getPlatformType(true);
  return platformType === "mobile" || platformType === "tablet" ? "mobile_web" : "web";
}

/** bowser's name and version → a cleaned, capped {@link Software}, or null without a name. */
function software(name: string | undefined, version: string | undefined): Software | null {
  const cleanName = cleanText(name, META_FIELD_CAPS.softwareName);
  if (cleanName === null) return null;
  return { name: cleanName, version: cleanText(version, META_FIELD_CAPS.softwareVersion) };
}

function parseUserAgent(userAgent: string | null): Parser | null {
  // bowser throws on an empty UA; a blank one carries no information either.
  if (!hasText(userAgent)) return null;
  try {
    return getParser(userAgent);
  } catch {
    // Classification is best-effort and must never fail a sign-in.
    return null;
  }
}

function osFromDevice(device: string | null): AppOs | null {
  if (!hasText(device)) return null;
  if (IOS_DEVICE_HINT.test(device)) return "ios";
  if (ANDROID_DEVICE_HINT.test(device)) return "android";
  return null;
}

function osFromParser(parser: Parser | null): AppOs | null {
  const os = parser?.getOSName(true);
  if (os === "ios") return "ios";
  if (os === "android") return "android";
  return null;
}

function hasText(value: string | null): value is string {
  return value !== null && value.trim() !== "";
}

/**
 * C0/DEL/C1 controls, format characters (bidi overrides and isolates, zero-width
 * characters, BOM, tag characters), line/paragraph separators and lone
 * surrogates: invisible or reordering characters that let a client make a stored
 * value display as something it is not, or break logs and JSON consumers.
 */
const UNSAFE_CHARACTERS = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/** Strip unsafe characters, trim, cap to `cap` code points; empty → null. */
function cleanText(value: string | null | undefined, cap: number): string | null {
  if (value === undefined || value === null) return null;
  const cleaned = truncateCodePoints(value.replace(UNSAFE_CHARACTERS, "").trim(), cap).trimEnd();
  return cleaned === "" ? null : cleaned;
}

/** First `max` code points of `value`; never ends inside a surrogate pair. */
function truncateCodePoints(value: string, max: number): string {
  // A string has at least as many code units as code points.
  if (value.length <= max) return value;
  let index = 0;
  for (let count = 0; count < max && index < value.length; count++) {
    index += (value.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  }
  return value.slice(0, index);
}

/** Code points in `value`, counting no further than `limit`. */
function codePointLength(value: string, limit: number): number {
  let count = 0;
  for (let index = 0; index < value.length && count < limit; count++) {
    index += (value.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  }
  return count;
}

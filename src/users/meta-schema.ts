/**
 * Session metadata as it is stored: the strict `SessionMeta` schema and its types. The
 * enums and caps of its fields are in meta-fields.ts (re-exported here); encoding for Redis
 * and the tolerant decode, in meta-codec.ts. Pure; no Redis here.
 *
 * @module
 */
import { z } from "zod";
import { codePointLength } from "./text.js";
import {
  clientPlatformSchema,
  deviceTypeSchema,
  META_FIELD_CAPS,
  sessionKeyTypeSchema,
} from "./meta-fields.js";

export {
  CLIENT_PLATFORMS,
  isClientPlatform,
  clientPlatformSchema,
  SESSION_KEY_TYPES,
  sessionKeyTypeSchema,
  META_FIELD_CAPS,
  DEVICE_TYPES,
  deviceTypeSchema,
  idLikeSchema,
  type ClientPlatform,
  type SessionKeyType,
  type DeviceType,
} from "./meta-fields.js";

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
});

/** Metadata persisted with each authenticated session. */
export type SessionMeta = z.infer<typeof sessionMetaSchema>;

/** The native app a session runs in; see {@link SessionMeta}.app. */
export type AppInfo = NonNullable<SessionMeta["app"]>;

/**
 * What is read from an incoming request for its session's metadata: `req.ip`, the
 * headers and the course held in the session, cleaned and capped. Pure functions only.
 *
 * @module
 */
import { isIPv4 } from "node:net";
import { describeDevice } from "./device.js";
import { idLikeSchema, META_FIELD_CAPS, type ClientPlatform, type DeviceType } from "./meta-fields.js";
import type { AppInfo, Software } from "./meta-schema.js";
import { cleanText } from "./text.js";

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
  /**
   * `req.ip`, capped to {@link META_FIELD_CAPS}.ip; an IPv4 client seen through a
   * dual-stack socket (`::ffff:203.0.113.7`) is recorded as its IPv4 address.
   */
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

/** Header names as Node delivers them (lower-cased). */
const METADATA_HEADERS = {
  userAgent: "user-agent",
  appVersion: "appversion",
  installationId: "x-installation-id",
  device: "x-device",
  courseId: "x-course-id",
} as const;

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
    ip: unmappedIp(cleanText(req.ip, META_FIELD_CAPS.ip)),
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

/** `::ffff:a.b.c.d` (or its long form `0:0:0:0:0:ffff:a.b.c.d`), any case. */
const IPV4_MAPPED = /^(?:::|(?:0{1,4}:){5})ffff:([\d.]{7,15})$/i;

/**
 * An IPv4-mapped IPv6 address → the IPv4 address it carries; anything else unchanged.
 * A server listening on `::` sees IPv4 clients as `::ffff:203.0.113.7`, which people read
 * as a different address from the `203.0.113.7` a proxy or an IPv4 socket reports.
 */
function unmappedIp(ip: string | null): string | null {
  const ipv4 = ip === null ? undefined : IPV4_MAPPED.exec(ip)?.[1];
  return ipv4 !== undefined && isIPv4(ipv4) ? ipv4 : ip;
}

function firstHeader(req: RequestLike, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The session's `course_uuid`, else its `course_id`. Each field is checked on its own: this
 * runs on every tracked request, where validating the session object as a whole costs far
 * more.
 */
function courseFromSession(session: object | undefined): string | null {
  if (session === undefined || session === null) return null;
  const { course_uuid: uuid, course_id: id } = session as { course_uuid?: unknown; course_id?: unknown };
  return courseText(uuid) ?? courseText(id);
}

function courseText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const parsed = idLikeSchema.safeParse(value);
  return parsed.success ? cleanText(parsed.data, META_FIELD_CAPS.courseId) : null;
}

/**
 * The fields of session metadata one by one: the enums (client platform, session key type,
 * device type) with their schemas, and the caps on every client-supplied string. Pure; no
 * Redis here.
 *
 * @module
 */
import { z } from "zod";
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

/** A course id may have been stored as a number by older writers. */
export const idLikeSchema = z.union([z.string(), z.number().transform(String)]);

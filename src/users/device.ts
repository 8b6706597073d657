/**
 * What a request's headers say about the client: its platform, browser, OS, device type
 * and native app, from one parse of the User-Agent (bowser) and the apps' own headers.
 * Best-effort and total: never throws. Pure functions only.
 *
 * @module
 */
import type { Parser } from "bowser";
import { getParser } from "bowser";
import { META_FIELD_CAPS, type ClientPlatform, type DeviceType } from "./meta-fields.js";
import type { AppInfo, Software } from "./meta-schema.js";
import { cleanText } from "./text.js";

/** The headers a device is told by, cleaned and capped (see `RequestMetadata`). */
export interface DeviceSignals {
  userAgent: string | null;
  appVersion: string | null;
  installationId: string | null;
  device: string | null;
}

/** What {@link describeDevice} derives from a request's headers. */
export interface DeviceMetadata {
  clientPlatform: ClientPlatform;
  browser: Software | null;
  os: Software | null;
  deviceType: DeviceType;
  app: AppInfo | null;
}

/**
 * X-DEVICE model hints. The apps send a model identifier or name there, which
 * bowser does not parse; these few prefixes cover Apple identifiers and the common
 * Android makers. Anything else falls through to the User-Agent.
 */
const IOS_DEVICE_HINT = /\b(?:iphone|ipad|ipod|ipados|ios)(?![a-z])/i;
const ANDROID_DEVICE_HINT =
  /\b(?:android|pixel|samsung|galaxy|sm-[a-z]\d|xiaomi|redmi|oneplus|motorola)(?![a-z])/i;

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
export function detectClientPlatform(signals: DeviceSignals): ClientPlatform {
  return describeDevice(signals).clientPlatform;
}

/**
 * Generic HTTP stacks the apps may send as their User-Agent: their product token
 * names the library, not the app.
 */
const GENERIC_CLIENT_TOKENS: ReadonlySet<string> = new Set([
  "mozilla",
  "okhttp",
  "dalvik",
  "cfnetwork",
  "darwin",
  "dart",
  "ktor-client",
]);

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
export function describeDevice(signals: DeviceSignals): DeviceMetadata {
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
        : {
            name: OS_NAMES[appOs],
            version: osFromParser(parser) === appOs ? (parsedOs?.version ?? null) : null,
          };
    // A web view's browser is not the user's browser: an app session has none.
    const clientPlatform: ClientPlatform =
      appOs === "ios" ? "ios_app" : appOs === "android" ? "android_app" : platformOfBrowser(parser);
    return { clientPlatform, browser: null, os, deviceType: "app", app };
  }
  const platformType = parser?.getPlatformType(true);
  const deviceType: DeviceType =
    platformType === "desktop" || platformType === "mobile" || platformType === "tablet"
      ? platformType
      : "unknown";
  return {
    clientPlatform: platformOfBrowser(parser),
    browser: parsedBrowser,
    os: parsedOs,
    deviceType,
    app: null,
  };
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

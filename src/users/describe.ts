/**
 * Short human labels for a session's device ("Safari on iPhone", "Turtle for Android 3.2"),
 * the way account pages name devices. Pure; no Redis here.
 *
 * @module
 */
import { describeDevice, type DeviceMetadata } from "./device.js";
import type { SessionMeta } from "./meta-schema.js";

/** What {@link describeSession} reads of a session's metadata. */
export type DescribableSession = Pick<
  SessionMeta,
  "userAgent" | "appVersion" | "installationId" | "device" | "applicationName" | "clientPlatform"
> &
  Partial<Pick<SessionMeta, "browser" | "os" | "deviceType" | "app">>;

/** The label of a session with no User-Agent and no app headers. */
export const UNKNOWN_DEVICE_LABEL = "Unknown device";

/** bowser's names → the short names people know (Google and GitHub say "Edge"). */
const BROWSER_NAMES: Readonly<Record<string, string>> = {
  "Microsoft Edge": "Edge",
  "Samsung Internet for Android": "Samsung Internet",
  "Android Browser": "Android browser",
  "Opera Touch": "Opera",
};

const OS_NAMES: Readonly<Record<string, string>> = {
  "Chrome OS": "ChromeOS",
};

/**
 * A short label for the device a session runs on:
 *
 * - a browser: `"<browser> on <where>"`, where is the device for Apple's phones and
 *   tablets (`"Safari on iPhone"`, `"Chrome on iPad"`) and the OS otherwise
 *   (`"Chrome on Windows"`, `"Firefox on macOS"`, `"Samsung Internet on Android"`);
 * - the native apps: `"<app> for <OS> <version>"` (`"Turtle for Android 3.2"`), the app
 *   named by its User-Agent's product token, else by the session's `applicationName`;
 * - another client: its User-Agent's product name (`"curl"`, `"python-requests"`);
 * - nothing sent: `"Unknown device"`.
 *
 * Sessions recorded before the device fields existed are described from their stored
 * User-Agent and headers, so old rows get labels too. The label is plain text: escape it
 * before putting it in HTML, like every other client-supplied value.
 *
 * @example
 * ```ts
 * for (const s of await SessionsManager.activeSessions(user, { current: req })) {
 *   console.log(describeSession(s), s.current ? "(this device)" : "");
 * }
 * ```
 */
export function describeSession(meta: DescribableSession): string {
  const device = meta.deviceType === undefined ? describeDevice(meta) : withDefaults(meta);
  if (device.deviceType === "app" && device.app) return appLabel(device, meta.applicationName);
  if (device.browser) {
    const browser = BROWSER_NAMES[device.browser.name] ?? device.browser.name;
    const where = placeOf(device);
    return where === null ? browser : `${browser} on ${where}`;
  }
  const product = productName(meta.userAgent);
  if (product !== null) return product;
  const os = device.os ? (OS_NAMES[device.os.name] ?? device.os.name) : null;
  return os ?? UNKNOWN_DEVICE_LABEL;
}

function withDefaults(meta: DescribableSession): DeviceMetadata {
  return {
    clientPlatform: meta.clientPlatform,
    browser: meta.browser ?? null,
    os: meta.os ?? null,
    deviceType: meta.deviceType ?? "unknown",
    app: meta.app ?? null,
  };
}

function appLabel(device: DeviceMetadata, applicationName: string): string {
  const name = device.app?.name ?? (applicationName.trim() === "" ? "App" : applicationName);
  const platform =
    device.os?.name ??
    (device.clientPlatform === "ios_app"
      ? "iOS"
      : device.clientPlatform === "android_app"
        ? "Android"
        : null);
  return [name, platform === null ? null : `for ${OS_NAMES[platform] ?? platform}`, device.app?.version]
    .filter((part) => part !== null && part !== undefined && part !== "")
    .join(" ");
}

/** Where a browser runs: iPhone / iPad for Apple's mobile devices, else the OS's name. */
function placeOf(device: DeviceMetadata): string | null {
  const os = device.os?.name;
  if (os === undefined) return null;
  if (os === "iOS") return device.deviceType === "tablet" ? "iPad" : "iPhone";
  return OS_NAMES[os] ?? os;
}

/**
 * `curl/8.7.1` → `curl`: the first product token of a User-Agent that no browser
 * parser recognised. `Mozilla` says nothing about the client, so it gives null.
 */
function productName(userAgent: string | null): string | null {
  const token = /^([A-Za-z][\w.+-]{0,31})(?:\/|\s|$)/.exec(userAgent ?? "")?.[1];
  if (token === undefined || token.toLowerCase() === "mozilla") return null;
  return token;
}

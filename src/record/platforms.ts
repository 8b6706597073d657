/** Client platforms a session can be attributed to (stats buckets are kept per application and platform). */
export const CLIENT_PLATFORMS = ["ios_app", "android_app", "mobile_web", "web"] as const;

/**
 * Where a session is used from: one of the native apps, a browser on a phone or
 * tablet, or anything else (desktop browsers, bots, scripts, unknown clients).
 */
export type ClientPlatform = (typeof CLIENT_PLATFORMS)[number];

/** Whether `value` is one of {@link CLIENT_PLATFORMS}: the schema's answer, without a parse (on every signed-in write). */
export function isClientPlatform(value: unknown): value is ClientPlatform {
  return (CLIENT_PLATFORMS as readonly unknown[]).includes(value);
}

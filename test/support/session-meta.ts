/**
 * What session metadata holds where nothing was sent or recorded, written out once here
 * (not taken from src/users/meta-schema.ts or meta-request.ts) for the tests that expect it:
 * the decoder's unit tests and the manager contract's sparse old payloads.
 */
import type { RequestMetadata } from "../../src/users/meta-request.js";
import type { SessionMeta } from "../../src/users/meta-schema.js";

/** What a request that sends no headers and no address yields: no signals, a web client. */
export const NO_REQUEST_METADATA = {
  ip: null,
  userAgent: null,
  appVersion: null,
  installationId: null,
  device: null,
  courseId: null,
  clientPlatform: "web",
} as const satisfies RequestMetadata;

/** Every field of a session's metadata but its ids and dates, as decoded where a payload lacks it. */
export const META_DEFAULTS = {
  applicationName: "",
  sessionKeyType: "cookie",
  ...NO_REQUEST_METADATA,
} as const satisfies Omit<
  SessionMeta,
  "sessionId" | "userId" | "signInAt" | "lastSeenAt" | "createdAt" | "expiresAt"
>;

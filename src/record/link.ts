import { isClientPlatform, type ClientPlatform } from "./platforms.js";

/** Whose a signed-in session is, for which app and platform: where it is filed. */
export interface SessionLink {
  readonly userId: string;
  readonly applicationName: string;
  readonly clientPlatform: ClientPlatform;
}

/** The link carried by a session's metadata (as data; written by SessionsManager), if signed in. */
export function linkOfMeta(meta: unknown): SessionLink | undefined {
  if (meta === null || typeof meta !== "object") return undefined;
  const { userId, applicationName, clientPlatform } = meta as Record<string, unknown>;
  if (typeof userId !== "string" || userId === "" || typeof applicationName !== "string") return undefined;
  return {
    userId,
    applicationName,
    clientPlatform: isClientPlatform(clientPlatform) ? clientPlatform : "web",
  };
}

/**
 * The absolute deadline carried by a session's metadata (`absoluteExpiresAt`, a Date or its
 * ISO text; written by SessionsManager from a lifetime profile), in ms since the epoch; 0 for
 * none. The store writes it into the record's header, where every read checks it.
 */
export function deadlineOfMeta(meta: unknown): number {
  if (meta === null || typeof meta !== "object") return 0;
  const value = (meta as Record<string, unknown>).absoluteExpiresAt;
  const ms =
    value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

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

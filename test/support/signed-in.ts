/**
 * Signed-in sessions written straight through the store's public `set`, with the metadata
 * (`_rels`) a SessionsManager would have recorded: for tests and benchmarks that need many
 * sessions of one user without an HTTP round trip per sign-in.
 */
import { randomBytes } from "node:crypto";
import type { SessionData } from "express-session";
import type { RelsRedisStore, RelsSessionsManager } from "../../src/index.js";

/** A fresh sid shaped like express-session's (base64url), so the migration modes accept it. */
export function newSid(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The session object a sign-in through `manager` saves for `userId`: the metadata comes from
 * `recordAuthenticatedRequest` itself (a request with no headers), not from a copy of its shape.
 */
export async function signedInSession(
  manager: RelsSessionsManager,
  sid: string,
  userId: string,
  ttlMs = 3_600_000,
): Promise<SessionData> {
  // `userId` at the top, as an app's own sign-in code keeps it (test/support/express-app.ts).
  const session = {
    cookie: { originalMaxAge: ttlMs, expires: new Date(Date.now() + ttlMs), httpOnly: true, path: "/" },
    userId,
  } as unknown as SessionData;
  await manager.recordAuthenticatedRequest(userId, { sessionID: sid, session, headers: {} });
  return session;
}

/**
 * Sign `count` sessions of `userId` in through `store.set`, `batch` writes in flight at a
 * time (the pool pipelines them). Returns their sids.
 */
export async function signInMany(
  store: RelsRedisStore,
  manager: RelsSessionsManager,
  userId: string,
  count: number,
  options: { batch?: number; ttlMs?: number } = {},
): Promise<string[]> {
  const batch = options.batch ?? 500;
  const sids: string[] = [];
  for (let start = 0; start < count; start += batch) {
    const chunk = Array.from({ length: Math.min(batch, count - start) }, () => newSid());
    await Promise.all(
      chunk.map(async (sid) => store.set(sid, await signedInSession(manager, sid, userId, options.ttlMs))),
    );
    sids.push(...chunk);
  }
  return sids;
}

/**
 * What the benchmark stores: session ids shaped like express-session's, and a ~1 KB session
 * of the usual shape (cookie, signed-in user, CSRF secret, a few preferences, a small cart).
 */
import { randomBytes } from "node:crypto";
import type { SessionData } from "express-session";

export const DAY_MS = 86_400_000;
export const SESSION_MAX_AGE_MS = 14 * DAY_MS;

/** 32 base64url characters, as express-session's default `genid` (uid-safe, 24 bytes). */
export function newSid(): string {
  return randomBytes(24).toString("base64url");
}

export function newSids(count: number): string[] {
  return Array.from({ length: count }, () => newSid());
}

/** A session whose JSON is exactly `bytes` long (at least ~600): the same for every contender. */
export function benchSession(bytes = 1024): SessionData {
  const now = Date.now();
  const session: Record<string, unknown> = {
    cookie: {
      originalMaxAge: SESSION_MAX_AGE_MS,
      expires: new Date(now + SESSION_MAX_AGE_MS).toISOString(),
      secure: true,
      httpOnly: true,
      domain: "app.example.com",
      path: "/",
      sameSite: "lax",
    },
    views: 0,
    csrfSecret: randomBytes(18).toString("base64url"),
    user: {
      id: 4_812_337,
      name: "Ada Lovelace",
      email: "ada@example.com",
      roles: ["learner", "beta"],
      locale: "en-GB",
    },
    preferences: { theme: "dark", timezone: "Europe/London", emailDigest: "weekly", autoplay: false },
    cart: [
      { sku: "COURSE-ALG-101", qty: 1, price: 4900 },
      { sku: "COURSE-STAT-201", qty: 1, price: 5900 },
    ],
    flash: {},
    returnTo: "/courses/algebra/lessons/12?tab=notes",
    notes: "",
  };
  const base = Buffer.byteLength(JSON.stringify(session));
  session.notes = "x".repeat(Math.max(0, bytes - base));
  return session as unknown as SessionData;
}

/** Milliseconds the session has left, from its cookie: what any store turns into the Redis TTL. */
export function ttlMsOf(session: SessionData): number {
  const expires = session.cookie?.expires;
  return expires ? new Date(expires).getTime() - Date.now() : DAY_MS;
}

/** The same change every contender makes between its get and its set. */
export function bump(session: SessionData): SessionData {
  const record = session as unknown as { views?: number };
  record.views = (record.views ?? 0) + 1;
  return session;
}

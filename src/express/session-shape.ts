import { Cookie, type SessionData } from "express-session";

/** express-session's Cookie as it is at run time (its typings omit the constructor's argument and serialize). */
const ExpressCookie = Cookie as unknown as new (options: object) => {
  expires: Date | null;
  serialize(name: string, value: string): string;
};

/**
 * What express-session needs to use a session without throwing mid-request: an object
 * with a cookie whose `originalMaxAge` is a number or null and whose `expires`, if any,
 * is a date.
 */
export function isSessionShaped(value: unknown): value is SessionData {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const cookie = (value as { cookie?: unknown }).cookie;
  if (cookie === null || typeof cookie !== "object" || Array.isArray(cookie)) return false;
  // The serializers strip these; this is the last gate before express-session, whose Cookie
  // and Session constructors copy keys by assignment, so an own `__proto__` that reached
  // them would become the object's prototype.
  if (Object.hasOwn(value, "__proto__") || Object.hasOwn(cookie, "__proto__")) return false;
  const { originalMaxAge, expires } = cookie as { originalMaxAge?: unknown; expires?: unknown };
  if (originalMaxAge !== undefined && originalMaxAge !== null && !Number.isFinite(originalMaxAge)) return false;
  if (expires !== undefined && expires !== null && expires !== false) {
    if (typeof expires !== "string" && !(expires instanceof Date)) return false;
    if (!Number.isFinite(new Date(expires).getTime())) return false;
  }
  // Let express-session's own Cookie judge the rest (maxAge, sameSite, priority, path,
  // domain): what it would throw on mid-request is corrupt here.
  try {
    // As express-session's createSession does: the stored expiry becomes a Date afterwards.
    const probe = new ExpressCookie({ ...cookie, expires: null });
    if (expires) probe.expires = new Date(expires as string | Date);
    probe.serialize("s", "v");
    return true;
  } catch {
    return false;
  }
}

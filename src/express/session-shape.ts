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
  // domain): what it would throw on mid-request is corrupt here. Its verdict depends only on
  // those fields, which are the same for nearly every session of an app: it is cached by
  // their values (the expiry, judged above, left out).
  const shape = cookieShape(cookie as Record<string, unknown>);
  const known = shape === undefined ? undefined : verdicts.get(shape);
  if (known !== undefined) return known;
  const verdict = cookieAccepted(cookie, expires);
  if (shape !== undefined) {
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(shape, verdict);
  }
  return verdict;
}

const verdicts = new Map<string, boolean>();
const MAX_VERDICTS = 256;
/** Judged above; their values do not change express-session's verdict on the rest. */
const JUDGED = new Set(["expires", "originalMaxAge"]);

/** The cookie's fields but its expiry, as a cache key; undefined when one is not a primitive. */
function cookieShape(cookie: Record<string, unknown>): string | undefined {
  let shape = "";
  for (const key in cookie) {
    const value = cookie[key];
    if (JUDGED.has(key)) {
      shape += `${key}:${typeof value};`;
      continue;
    }
    if (value !== null && typeof value === "object") return undefined;
    if (typeof value === "function") return undefined;
    shape += `${key}=${typeof value}:${String(value)};`;
  }
  return shape;
}

function cookieAccepted(cookie: object, expires: unknown): boolean {
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

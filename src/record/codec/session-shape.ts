import { Cookie, type SessionData } from "express-session";
import { isoString } from "./iso-time.js";

/** express-session's Cookie as it is at run time (its typings omit the constructor's argument and serialize). */
const ExpressCookie = Cookie as unknown as new (options: object) => {
  expires: Date | null;
  serialize(name: string, value: string): string;
};

/**
 * What express-session needs to use a session without throwing mid-request: an object
 * with a cookie whose `originalMaxAge` is a number or null and whose `expires`, if any,
 * is a date.
 *
 * `liveExpiry`, when given, is the expiry Redis holds for the session (ms since the epoch,
 * within a Date's range): a touch extends it in the record's header, not in the payload, so
 * a cookie with an expiry is given this one, as MemoryStore reports a touched expiry. The
 * stored expiry is then replaced rather than parsed.
 */
export function isSessionShaped(value: unknown, liveExpiry?: number): value is SessionData {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const cookie = (value as { cookie?: unknown }).cookie;
  if (cookie === null || typeof cookie !== "object" || Array.isArray(cookie)) return false;
  // The serializers strip these; this is the last gate before express-session, whose Cookie
  // and Session constructors copy keys by assignment, so an own `__proto__` that reached
  // them would become the object's prototype.
  if (Object.hasOwn(value, "__proto__") || Object.hasOwn(cookie, "__proto__")) return false;
  const fields = cookie as { originalMaxAge?: unknown; expires?: unknown };
  const { originalMaxAge, expires } = fields;
  if (originalMaxAge !== undefined && originalMaxAge !== null && !Number.isFinite(originalMaxAge))
    return false;
  if (expires !== undefined && expires !== null && expires !== false) {
    if (typeof expires !== "string" && !(expires instanceof Date)) return false;
    if (liveExpiry !== undefined && expires !== "") fields.expires = isoString(liveExpiry);
    else if (!Number.isFinite(new Date(expires).getTime())) return false;
  }
  return acceptedByExpressSession(cookie as Record<string, unknown>);
}

/**
 * Whether express-session's own Cookie accepts the cookie (maxAge, sameSite, priority, path,
 * domain…): what it would throw on mid-request is corrupt here. Its verdict depends on the
 * values of the fields it reads, and on the order and kind of the others; for nearly every
 * session of an app those are the same, so the cookies it accepted are remembered by them
 * and compared in place, without building anything: a few property reads per session read.
 */
function acceptedByExpressSession(cookie: Record<string, unknown>): boolean {
  for (const known of accepted) if (sameShape(cookie, known)) return true;
  // Each field read once: what is judged is what is remembered, even from a getter.
  const fields = { ...cookie };
  const shape = shapeOf(fields);
  const expires = fields.expires;
  let verdict: boolean;
  try {
    // As express-session's createSession does: the stored expiry becomes a Date afterwards.
    const probe = new ExpressCookie({ ...fields, expires: null });
    if (expires) probe.expires = new Date(expires as string | Date);
    probe.serialize("s", "v");
    verdict = true;
  } catch {
    verdict = false;
  }
  if (verdict && shape !== undefined) {
    if (accepted.length >= MAX_ACCEPTED) accepted.shift();
    accepted.push(shape);
  }
  return verdict;
}

/**
 * The fields express-session's Cookie reads or validates by value (its `maxAge` setter and
 * `serialize`); any other field (`expires` and `originalMaxAge`, judged above, or a field of
 * another framework's such as @fastify/session's `originalExpires`) counts by its kind only.
 */
const READ_BY_VALUE: ReadonlySet<string> = new Set([
  "maxAge",
  "path",
  "domain",
  "sameSite",
  "secure",
  "httpOnly",
  "priority",
  "partitioned",
]);

/**
 * A cookie's fields in their order: [key, true, value] for those read by value, [key, false,
 * kind] for the rest (the flag spares a set lookup per field on every read).
 */
type CookieShape = ReadonlyArray<readonly [key: string, byValue: boolean, value: unknown]>;

const accepted: CookieShape[] = [];
/** Distinct cookie settings remembered; an app has one or a few. */
const MAX_ACCEPTED = 16;

function kindOf(value: unknown): string {
  return value === null ? "null" : value instanceof Date ? "date" : typeof value;
}

/** The shape to remember, or undefined when a field read by value is not a primitive (such a cookie is judged every time). */
function shapeOf(cookie: Record<string, unknown>): CookieShape | undefined {
  const shape: Array<readonly [string, boolean, unknown]> = [];
  for (const key in cookie) {
    const value = cookie[key];
    if (!READ_BY_VALUE.has(key)) shape.push([key, false, kindOf(value)]);
    else if ((value !== null && typeof value === "object") || typeof value === "function") return undefined;
    else shape.push([key, true, value]);
  }
  return shape;
}

function sameShape(cookie: Record<string, unknown>, known: CookieShape): boolean {
  let i = 0;
  for (const key in cookie) {
    const field = known[i++];
    if (field === undefined || field[0] !== key) return false;
    const value = cookie[key];
    if (field[1] ? !Object.is(field[2], value) : field[2] !== kindOf(value)) return false;
  }
  return i === known.length;
}

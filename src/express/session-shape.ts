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
  if (originalMaxAge !== undefined && originalMaxAge !== null && !Number.isFinite(originalMaxAge)) return false;
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
const READ_BY_VALUE: ReadonlySet<string> = new Set(["maxAge", "path", "domain", "sameSite", "secure", "httpOnly", "priority", "partitioned"]);

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

const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00.000Z: from there on, toISOString writes a six-digit year. */
const YEAR_10000_MS = 253_402_300_800_000;

/**
 * `new Date(ms).toISOString()`, computed in JavaScript: it is on every read (the live
 * expiry), and V8's own formatter costs 0.5–1 µs there, this about a tenth. Dates before
 * 1970 or from the year 10000 on are left to V8. The calendar arithmetic is Howard
 * Hinnant's `civil_from_days` (days since 1970-01-01 to a proleptic Gregorian date).
 */
export function isoString(ms: number): string {
  if (!(ms >= 0 && ms < YEAR_10000_MS) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  const shifted = days + 719_468; // days since 0000-03-01
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return `${year}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${two(seconds)}.${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ`: where each separator stands, and its character code. */
const ISO_SEPARATOR_AT = [4, 7, 10, 13, 16, 19, 23];
const ISO_SEPARATOR_CODE = [..."--T::.Z"].map((char) => char.charCodeAt(0));

/**
 * `new Date(text).getTime()`, for the text `isoString` (and `toISOString`) writes, read in
 * JavaScript: a session read by this store carries its expiry in that form, and the write
 * that follows needs it back as a number. V8's date parser costs about 1 µs there, this
 * about a tenth. Anything else (another form, an impossible date, a year before 1970) is
 * left to `Date`.
 */
export function isoMs(text: string): number {
  if (text.length !== 24) return new Date(text).getTime();
  for (let k = 0; k < ISO_SEPARATOR_AT.length; k++) {
    if (text.charCodeAt(ISO_SEPARATOR_AT[k]!) !== ISO_SEPARATOR_CODE[k]) return new Date(text).getTime();
  }
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hours = digitsAt(text, 11, 2);
  const minutes = digitsAt(text, 14, 2);
  const seconds = digitsAt(text, 17, 2);
  const millis = digitsAt(text, 20, 3);
  // digitsAt gives -1 for a non-digit: every field is then out of its range.
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return new Date(text).getTime();
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59 || millis < 0) return new Date(text).getTime();
  return daysFromCivil(year, month, day) * DAY_MS + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis;
}

/** The decimal number of `count` digits at `start`, or -1 when one of them is not a digit. */
function digitsAt(text: string, start: number, count: number): number {
  let n = 0;
  for (let i = start; i < start + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`, for years from 1970). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

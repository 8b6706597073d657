/**
 * A Date's ISO-8601 text (`YYYY-MM-DDTHH:MM:SS.sssZ`) written and read in JavaScript, for the
 * session expiry on every read and save, where V8's `toISOString` and date parser cost several
 * times as much (bench/README.md, "Figures behind choices in the code"). Outside 1970–9999, or for any other text, both leave the work to `Date`.
 */

const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00.000Z: from there on, toISOString writes a six-digit year. */
const YEAR_10000_MS = 253_402_300_800_000;

/**
 * `new Date(ms).toISOString()`, computed in JavaScript: it is on every read (the live
 * expiry), where V8's own formatter costs several times as much. Dates before
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
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
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
 * that follows needs it back as a number, where V8's date parser costs several times as
 * much. Anything else (another form, an impossible date, a year before 1970) is
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
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month))
    return new Date(text).getTime();
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59 || millis < 0)
    return new Date(text).getTime();
  return (
    daysFromCivil(year, month, day) * DAY_MS + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis
  );
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

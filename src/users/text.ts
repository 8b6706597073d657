/**
 * Client-supplied text made safe to store and show: unsafe characters stripped, trimmed,
 * capped by code point (never splitting a surrogate pair).
 *
 * @module
 */

/**
 * C0/DEL/C1 controls, format characters (bidi overrides and isolates, zero-width
 * characters, BOM, tag characters), line/paragraph separators and lone
 * surrogates: invisible or reordering characters that let a client make a stored
 * value display as something it is not, or break logs and JSON consumers.
 */
const UNSAFE_CHARACTERS = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/** Strip unsafe characters, trim, cap to `cap` code points; empty → null. */
export function cleanText(value: string | null | undefined, cap: number): string | null {
  if (value === undefined || value === null) return null;
  const cleaned = truncateCodePoints(value.replace(UNSAFE_CHARACTERS, "").trim(), cap).trimEnd();
  return cleaned === "" ? null : cleaned;
}

/** First `max` code points of `value`; never ends inside a surrogate pair. */
function truncateCodePoints(value: string, max: number): string {
  // A string has at least as many code units as code points.
  if (value.length <= max) return value;
  let index = 0;
  for (let count = 0; count < max && index < value.length; count++) {
    index += (value.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  }
  return value.slice(0, index);
}

/** Code points in `value`, counting no further than `limit`. */
export function codePointLength(value: string, limit: number): number {
  let count = 0;
  for (let index = 0; index < value.length && count < limit; count++) {
    index += (value.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  }
  return count;
}

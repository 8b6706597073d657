/**
 * How a session record is laid out in Redis (layout 3).
 *
 * One string key per session, `<prefix>{2::<hex>}`, holding a short header and the payload:
 *
 * ```
 * "3" <expiresAt: 16 digits> <score: 16 digits> <index key> "\t" <bucket key> ["\t" <plain key>] "\n" <payload>
 * ```
 *
 * - `expiresAt`: the expiry Redis was last given, in ms since the epoch (0: none). Read back
 *   with the payload, so `touch` can be throttled and `get` reports the live expiry.
 * - `score`: the expiry under which the session is filed in its owner's index and its stats
 *   bucket (0: not filed). It runs ahead of `expiresAt` by a slack, so a signed-in write or
 *   touch refiles the session only when its expiry passes the score, not on every request.
 * - the owner's index key and the stats bucket key, empty for an anonymous session: what a
 *   revocation or a relink must update, readable by a Lua script without decoding the payload.
 * - while mirroring to plain-sid keys (`mirrorWrites`) only: the plain copy's key, so that a
 *   revocation by private id ends that copy too. The sid is in that key's name, which the
 *   mirror itself already put in Redis; outside migration the field is absent.
 *
 * The two numbers have a fixed width at fixed offsets, so a touch rewrites them in place
 * (SETRANGE) without reading or rewriting the payload. A string key lets the hot path use
 * plain `GET` and `SET … PX … XX`, which cost Redis a fraction of a script call.
 *
 * Layout 4 is the same header with "4" first, then the session's metadata (`SessionMeta`, JSON
 * text, empty when it has none) and a newline, then the payload: listings read the metadata
 * without parsing the payload, and a save writes the text read back unchanged. In layouts 2
 * and 3 the metadata is the payload's `_rels` field; they are read, and move on their next write.
 *
 * Layout 2 (up to 0.1) was a hash (`d` payload, `e` expiry, `m` meta, `u` index, `b` bucket);
 * it is still read, and a session moves to the layout written (`recordLayout`) on its next write.
 */

export const LAYOUT_VERSION = "3";
/** Layout 4: the same header, then the metadata section (JSON text or empty) and a newline, then the payload. */
export const LAYOUT_WITH_META = "4";
const NUMBER_WIDTH = 16;
/** Byte offsets of the fixed fields (also used by the touch script: Lua counts from 1). */
export const EXPIRES_AT_OFFSET = 1;
export const SCORE_OFFSET = EXPIRES_AT_OFFSET + NUMBER_WIDTH;
const LINKS_OFFSET = SCORE_OFFSET + NUMBER_WIDTH;
const TAB = 9;
const NEWLINE = 10;
const DIGIT_0 = 48;
/** The largest time a JavaScript Date holds, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** What the header says of a session. */
export interface RecordHeader {
  /** ms since the epoch; undefined when the session never expires. */
  readonly expiresAt: number | undefined;
  /** The expiry it is filed under in its index and bucket; 0 when not filed. */
  readonly score: number;
  /** Its owner's index key; "" for an anonymous session. */
  readonly index: string;
  /** Its stats bucket key; "" for an anonymous session. */
  readonly bucket: string;
  /** Its plain-sid copy's key while mirroring (`mirrorWrites`); "" otherwise. */
  readonly plain: string;
}

/** A record as read: its header and the serialized session. */
export interface StoredRecord {
  readonly header: RecordHeader;
  readonly payload: Buffer;
  /**
   * Layout 4's metadata section (JSON text, "" when the session has none), read without
   * parsing the payload; undefined for layouts 2 and 3, whose metadata is inside the payload.
   */
  readonly meta: string | undefined;
  /** Read from layout 2 or 3: the next write moves it. */
  readonly layout: 2 | 3 | 4;
}

/** What a read finds: a record, nothing, or something that is not a session record. */
export type ReadResult = StoredRecord | null | typeof CORRUPT;
export const CORRUPT = Symbol("not a session record");

const ZEROS = "0".repeat(NUMBER_WIDTH);

/** A fixed-width decimal (Lua reads it with tonumber; doubles hold every ms up to 2^53). */
export function fixedNumber(value: number): string {
  const digits = value > 0 ? String(Math.ceil(value)) : "0";
  return ZEROS.slice(digits.length) + digits;
}

export function encodeHeader(header: RecordHeader, layout: string = LAYOUT_VERSION): string {
  const plain = header.plain === "" ? "" : `\t${header.plain}`;
  return `${layout}${fixedNumber(header.expiresAt ?? 0)}${fixedNumber(header.score)}${header.index}\t${header.bucket}${plain}\n`;
}

/**
 * The value to store: header, metadata section (layout 4; `meta` undefined writes layout 3)
 * and payload. A text payload stays a string (ioredis sends it without a copy into a Buffer
 * of ours); a binary one is joined to the header's bytes. `meta` is JSON text: it holds no
 * raw newline.
 */
export function encodeRecord(header: RecordHeader, payload: string | Buffer, meta?: string): string | Buffer {
  if (meta !== undefined && meta.includes("\n"))
    throw new TypeError("A metadata section holds no raw newline");
  const head =
    meta === undefined ? encodeHeader(header) : `${encodeHeader(header, LAYOUT_WITH_META)}${meta}\n`;
  return typeof payload === "string" ? head + payload : Buffer.concat([Buffer.from(head, "utf8"), payload]);
}

const LAYOUT3 = LAYOUT_VERSION.charCodeAt(0);
const LAYOUT4 = LAYOUT_WITH_META.charCodeAt(0);

/** The record in `value`, or undefined when it is not a layout-3 or layout-4 record (corrupt). */
export function decodeRecord(value: Buffer): StoredRecord | undefined {
  if (value.length <= LINKS_OFFSET || (value[0] !== LAYOUT3 && value[0] !== LAYOUT4)) return undefined;
  const end = value.indexOf(NEWLINE, LINKS_OFFSET);
  const tab = value.indexOf(TAB, LINKS_OFFSET);
  if (end < 0 || tab < 0 || tab > end) return undefined;
  const expiresAt = readFixedNumber(value, EXPIRES_AT_OFFSET);
  const score = readFixedNumber(value, SCORE_OFFSET);
  // An expiry past what a Date holds could not be reported (toISOString throws).
  if (
    expiresAt === undefined ||
    score === undefined ||
    expiresAt > MAX_DATE_MS ||
    score > Number.MAX_SAFE_INTEGER
  )
    return undefined;
  const second = value.indexOf(TAB, tab + 1);
  const bucketEnd = second >= 0 && second < end ? second : end;
  const withMeta = value[0] === LAYOUT4;
  const metaEnd = withMeta ? value.indexOf(NEWLINE, end + 1) : end;
  if (metaEnd < 0) return undefined;
  return {
    header: {
      expiresAt: expiresAt === 0 ? undefined : expiresAt,
      score,
      index: tab === LINKS_OFFSET ? "" : value.toString("utf8", LINKS_OFFSET, tab),
      bucket: tab + 1 === bucketEnd ? "" : value.toString("utf8", tab + 1, bucketEnd),
      plain: bucketEnd === end ? "" : value.toString("utf8", bucketEnd + 1, end),
    },
    meta: withMeta ? value.toString("utf8", end + 1, metaEnd) : undefined,
    payload: value.subarray(metaEnd + 1),
    layout: withMeta ? 4 : 3,
  };
}

/**
 * The fixed-width decimal at `offset`, read digit by digit (a read is on every request: this
 * spares two string conversions); undefined when one of its bytes is not a digit.
 */
function readFixedNumber(value: Buffer, offset: number): number | undefined {
  let n = 0;
  for (let i = offset; i < offset + NUMBER_WIDTH; i++) {
    const digit = value[i]! - DIGIT_0;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  return n;
}

/** A layout-2 hash read with `HMGET d e u b`, as a record; undefined when it has no payload. */
export function decodeLayout2(fields: ReadonlyArray<Buffer | null>): StoredRecord | undefined {
  const [payload, expiresAt, index, bucket] = fields;
  if (!payload) return undefined;
  const expiry = expiresAt ? Number(expiresAt.toString("latin1")) : undefined;
  const filed = index || bucket ? (expiry ?? 0) : 0;
  return {
    header: {
      expiresAt:
        expiry !== undefined && Number.isFinite(expiry) && Math.abs(expiry) <= MAX_DATE_MS
          ? expiry
          : undefined,
      // Layout 2 filed sessions exactly at their expiry; "+inf" never expires.
      score: Number.isFinite(filed) ? filed : 0,
      index: index?.toString("utf8") ?? "",
      bucket: bucket?.toString("utf8") ?? "",
      plain: "",
    },
    meta: undefined,
    payload,
    layout: 2,
  };
}

/** The fields of a layout-2 hash that `decodeLayout2` reads, in its order. */
export const LAYOUT2_FIELDS = ["d", "e", "u", "b"] as const;

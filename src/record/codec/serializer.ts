import { createRequire } from "node:module";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { SerializerUnavailableError, SessionPayloadTooLargeError } from "../../errors.js";

/** How sessions become bytes in Redis and back. */
export interface Serializer {
  /** `true` when `stringify` may return bytes that are not UTF-8 text. */
  readonly binary: boolean;
  stringify(value: object): string | Buffer;
  /** Throws on anything it cannot read; the store turns that into a miss. */
  parse(raw: string | Buffer): unknown;
}

/** connect-redis's serializer shape (`JSON` itself fits), accepted as-is. */
export interface TextSerializer {
  parse(text: string): unknown;
  stringify(value: unknown): string;
}

export type SerializerName = "json" | "msgpack";

const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** msgpackr decodes a `__proto__` key as `__proto_` (its own guard); that is dropped too. */
const MSGPACK_UNSAFE_KEYS = new Set([...UNSAFE_KEYS, "__proto_"]);

/**
 * Recursively remove prototype-polluting own keys. Also how the JSON reader cleans a payload
 * that may hold one: a walk over the parsed object costs a fraction of a `JSON.parse`
 * reviver, for which V8 calls back into JavaScript for every value.
 */
export function stripUnsafeKeys(value: unknown, unsafe: ReadonlySet<string> = UNSAFE_KEYS): unknown {
  if (value === null || typeof value !== "object") return value;
  for (const key of Object.keys(value)) {
    if (unsafe.has(key)) delete (value as Record<string, unknown>)[key];
    else stripUnsafeKeys((value as Record<string, unknown>)[key], unsafe);
  }
  return value;
}

/** An unsafe key spelt out. */
const UNSAFE_JSON_KEY = /"(?:__proto__|constructor|prototype)"\s*:/;

/** A `\u` escape of an ASCII letter or `_` (U+0040–U+007F): how a key can hide its spelling. */
const ESCAPED_LETTER = /\\u00[4-7][0-9A-Fa-f]/;

/**
 * Could this JSON text hold an unsafe key? One spelt out, or one spelt with escapes
 * (`"\u005f_proto__"` decodes to `__proto__`): `\u` escapes are the only way JSON can spell
 * a letter differently. JSON.stringify never escapes a letter (only control characters and
 * lone surrogates), so ordinary sessions, even with such characters, are parsed without the
 * clean-up walk. The substring search first: it costs a tenth of putting the escape in the
 * first regex.
 */
function mayHoldUnsafeKey(text: string): boolean {
  return (text.includes("\\u") && ESCAPED_LETTER.test(text)) || UNSAFE_JSON_KEY.test(text);
}

/** The default. The clean-up walk runs only when the text could hold an unsafe key, keeping parse fast. */
export const jsonSerializer: Serializer = {
  binary: false,
  stringify: (value) => JSON.stringify(value),
  parse(raw) {
    const text = typeof raw === "string" ? raw : raw.toString("utf8");
    return mayHoldUnsafeKey(text) ? stripUnsafeKeys(JSON.parse(text)) : JSON.parse(text);
  },
};

export function textSerializer(inner: TextSerializer): Serializer {
  return {
    binary: false,
    stringify: (value) => inner.stringify(value),
    parse: (raw) => stripUnsafeKeys(inner.parse(typeof raw === "string" ? raw : raw.toString("utf8"))),
  };
}

interface MsgpackrModule {
  Packr: new (options: { useRecords: boolean; moreTypes?: boolean }) => {
    pack(value: unknown): Buffer;
    unpack(bytes: Buffer): unknown;
  };
}

/** MessagePack through the optional `msgpackr` package: smaller and faster on large sessions. */
export function msgpackSerializer(): Serializer {
  let msgpackr: MsgpackrModule;
  try {
    msgpackr = createRequire(import.meta.url)("msgpackr") as MsgpackrModule;
  } catch (error) {
    throw new SerializerUnavailableError(
      'The msgpack serializer needs the optional package "msgpackr": run `npm install msgpackr`, or use the json serializer',
      { cause: error },
    );
  }
  // Records off: every payload must decode on its own, in any process, without shared structures.
  const packr = new msgpackr.Packr({ useRecords: false });
  return {
    binary: true,
    stringify: (value) => packr.pack(value),
    parse: (raw) =>
      stripUnsafeKeys(
        packr.unpack(typeof raw === "string" ? Buffer.from(raw, "binary") : raw),
        MSGPACK_UNSAFE_KEYS,
      ),
  };
}

/** Marks a compressed payload. Neither JSON text nor a MessagePack map can start with 0x00. */
const COMPRESSED = 0x00;

/** Limits of a store's serializer, as the store passes them. */
export interface SerializerOptions {
  /** Deflate payloads of this many bytes or more (before compression); never when undefined. */
  readonly compressThreshold?: number | undefined;
  /**
   * Largest session, in bytes before compression: `stringify` refuses a bigger one with
   * `SessionPayloadTooLargeError`, and `parse` stops inflating past it (a decompression bomb
   * reads as corrupt, so as a miss). The store passes its own `maxPayloadBytes`.
   * @default 1048576
   */
  readonly maxPayloadBytes?: number | undefined;
}

export const SERIALIZER_DEFAULTS = { maxPayloadBytes: 1_048_576 } as const;

function byteLength(payload: string | Buffer): number {
  return typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
}

/** Whether `payload` is over `maxBytes`; a string of at most a third as many characters cannot be (UTF-8 spends at most 3 bytes per UTF-16 unit). */
function isOver(payload: string | Buffer, maxBytes: number): boolean {
  if (typeof payload === "string" && payload.length * 3 <= maxBytes) return false;
  return byteLength(payload) > maxBytes;
}

/**
 * Inflate a stored payload (without its marker byte), never past `maxBytes`: zlib stops and
 * throws as soon as the output would exceed it, so a 100 KB payload that inflates to 100 MB
 * costs at most `maxBytes` of memory and the time to produce them.
 */
function inflateBounded(deflated: Buffer, maxBytes: number): Buffer {
  return inflateRawSync(deflated, { maxOutputLength: maxBytes });
}

/**
 * Deflate payloads of `threshold` bytes or more; smaller ones are stored as they are. The
 * size cap applies to the uncompressed bytes, checked before deflating, so a session that
 * compresses well cannot slip a huge object past `maxPayloadBytes`.
 */
export function withCompression(
  inner: Serializer,
  threshold: number,
  maxPayloadBytes: number = SERIALIZER_DEFAULTS.maxPayloadBytes,
): Serializer {
  return {
    binary: true,
    stringify(value) {
      const plain = inner.stringify(value);
      const bytes = typeof plain === "string" ? Buffer.from(plain, "utf8") : plain;
      if (bytes.length > maxPayloadBytes)
        throw new SessionPayloadTooLargeError(bytes.length, maxPayloadBytes);
      if (bytes.length < threshold) return bytes;
      return Buffer.concat([Buffer.of(COMPRESSED), deflateRawSync(bytes)]);
    },
    parse: (raw) =>
      typeof raw !== "string" && raw[0] === COMPRESSED
        ? inner.parse(inflateBounded(raw.subarray(1), maxPayloadBytes))
        : inner.parse(raw),
  };
}

/** First byte of a MessagePack map (fixmap, map16, map32): what msgpack sessions start with. */
function isMsgpackMap(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x80 && byte <= 0x8f) || byte === 0xde || byte === 0xdf);
}

let sharedMsgpack: Serializer | undefined;

/**
 * Read any format the built-in serializers write — compressed or not, JSON or MessagePack —
 * told apart by the first byte (0x00, a MessagePack map, else JSON text). Unambiguous only
 * for the built-ins: an app's own format is tried with its own `parse` first. Inflation is
 * bounded even when this store writes uncompressed: another configuration may have written
 * the payload. Compression is never nested, so an inflated payload is not inflated again.
 */
function builtinReader(maxPayloadBytes: number): (raw: string | Buffer) => unknown {
  const readPlain = (bytes: Buffer): unknown =>
    isMsgpackMap(bytes[0])
      ? (sharedMsgpack ??= msgpackSerializer()).parse(bytes)
      : jsonSerializer.parse(bytes);
  return (raw) => {
    if (typeof raw === "string") return jsonSerializer.parse(raw);
    return readPlain(raw[0] === COMPRESSED ? inflateBounded(raw.subarray(1), maxPayloadBytes) : raw);
  };
}

/**
 * The serializer a store uses. Writing uses the one configured. Reading with a built-in
 * one recognises every built-in format, so changing `serializer` or `compressThreshold`
 * never turns stored sessions into misses; with the app's own serializer, its `parse`
 * comes first and the built-in formats are only a fallback.
 *
 * `options` may still be a bare `compressThreshold` (the store's call before it passed
 * `maxPayloadBytes`); the cap then defaults to 1 MiB.
 */
export function resolveSerializer(
  choice: SerializerName | TextSerializer | Serializer | undefined,
  options: SerializerOptions | number = {},
): Serializer {
  const { compressThreshold, maxPayloadBytes: cap } =
    typeof options === "number" ? { compressThreshold: options } : options;
  const maxPayloadBytes = cap ?? SERIALIZER_DEFAULTS.maxPayloadBytes;
  let base: Serializer;
  if (choice === undefined || choice === "json") base = jsonSerializer;
  else if (choice === "msgpack") base = msgpackSerializer();
  // The app's own decoder may keep an own `__proto__` (JSON.parse does): strip, as for text serializers.
  else if ("binary" in choice)
    base = {
      binary: choice.binary,
      stringify: (value) => choice.stringify(value),
      parse: (raw) => stripUnsafeKeys(choice.parse(raw)),
    };
  else base = textSerializer(choice);
  const writer =
    compressThreshold === undefined ? base : withCompression(base, compressThreshold, maxPayloadBytes);
  const readBuiltin = builtinReader(maxPayloadBytes);
  const builtIn = typeof choice !== "object";
  return {
    binary: writer.binary,
    stringify(value) {
      // withCompression has checked the uncompressed size already; a plain payload is checked here.
      const payload = writer.stringify(value);
      if (compressThreshold === undefined && isOver(payload, maxPayloadBytes)) {
        throw new SessionPayloadTooLargeError(byteLength(payload), maxPayloadBytes);
      }
      return payload;
    },
    parse: builtIn
      ? readBuiltin
      : (raw) => {
          try {
            return writer.parse(raw);
          } catch (error) {
            try {
              return readBuiltin(raw);
            } catch {
              throw error;
            }
          }
        },
  };
}

/** connect-redis's format, for plain-sid keys: the app's own text serializer if it gave one, else JSON. */
export function legacySerializer(
  choice: SerializerName | TextSerializer | Serializer | undefined,
): Serializer {
  return typeof choice === "object" && !("binary" in choice) ? textSerializer(choice) : jsonSerializer;
}

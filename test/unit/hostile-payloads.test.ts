/**
 * Stored payloads written by someone hostile (or by another configuration): escaped
 * prototype keys, decompression bombs, sessions that compress past the size cap.
 */
import { deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { SessionPayloadTooLargeError } from "../../src/errors.js";
import {
  jsonSerializer,
  legacySerializer,
  msgpackSerializer,
  resolveSerializer,
  withCompression,
  type Serializer,
} from "../../src/record/codec/serializer.js";

const MiB = 1_048_576;
const cookie = { originalMaxAge: 60_000 };

/** Every reader a stored session can go through: the store's (json default) and the plain-sid one. */
const readers: Array<[string, Serializer]> = [
  ["jsonSerializer", jsonSerializer],
  ["store reader (default)", resolveSerializer(undefined)],
  ["store reader (msgpack configured)", resolveSerializer("msgpack")],
  ["store reader (compressed)", resolveSerializer("json", { compressThreshold: 64 })],
  ["legacy reader (default, connect-redis JSON)", legacySerializer(undefined)],
  ["legacy reader (app's JSON)", legacySerializer(JSON)],
  [
    "store reader (the app's own binary serializer)",
    resolveSerializer({
      binary: true,
      stringify: (value: object) => Buffer.from(JSON.stringify(value)),
      parse: (raw: string | Buffer) => JSON.parse(raw.toString()) as unknown,
    }),
  ],
];

/** Escape spellings of the keys JSON.parse would create as own properties. */
const spellings = [
  String.raw`"\u005f_proto__"`,
  String.raw`"__proto\u005f_"`,
  String.raw`"\u005F\u005Fproto\u005F\u005F"`,
  String.raw`"\u005f\u005f\u0070\u0072\u006f\u0074\u006f\u005f\u005f"`,
];

describe("JSON escapes of prototype keys", () => {
  for (const [name, reader] of readers) {
    describe(name, () => {
      for (const key of spellings) {
        it(`drops ${key} at the top level and nested, keeping the rest`, () => {
          const text = `{"cookie":{"originalMaxAge":60000},${key}:{"polluted":true,"userId":"attacker"},"nested":{${key}:{"x":1},"ok":1},"userId":"u"}`;
          for (const raw of [text, Buffer.from(text, "utf8")]) {
            const parsed = reader.parse(raw) as Record<string, unknown>;
            expect(Object.hasOwn(parsed, "__proto__")).toBe(false);
            expect(Object.hasOwn(parsed.nested as object, "__proto__")).toBe(false);
            expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
            // What an own __proto__ would do once the app copies the session.
            expect((Object.assign({}, parsed) as { polluted?: unknown }).polluted).toBeUndefined();
            expect(parsed).toEqual({ cookie, nested: { ok: 1 }, userId: "u" });
          }
        });
      }

      it("drops escaped constructor and prototype keys", () => {
        // No literal spelling anywhere in the text: only the escapes can trigger the guard.
        const constructor = reader.parse(
          String.raw`{"cookie":{"originalMaxAge":60000},"\u0063onstructor":{"x":1},"a":1}`,
        );
        expect(Object.hasOwn(constructor as object, "constructor")).toBe(false);
        expect(constructor).toEqual({ cookie, a: 1 });
        const prototype = reader.parse(
          String.raw`{"cookie":{"originalMaxAge":60000},"a":{"prototyp\u0065":1,"b":2}}`,
        );
        expect(prototype).toEqual({ cookie, a: { b: 2 } });
      });

      it("still decodes escaped text that is harmless", () => {
        const text = String.raw`{"cookie":{"originalMaxAge":60000},"note":"tab\u0009é\u00e9","\u0061":1}`;
        expect(reader.parse(text)).toEqual({ cookie, note: "tab\té\u00e9", a: 1 });
      });
    });
  }
});

/** A compressed payload as the store writes it (marker byte 0x00, raw deflate) of `bytes` of session. */
function compressedSession(bytes: number, format: "json" | "msgpack" = "json"): Buffer {
  const filler = "a".repeat(bytes - JSON.stringify({ cookie, blob: "" }).length);
  const session = { cookie, blob: filler };
  const plain =
    format === "json"
      ? Buffer.from(JSON.stringify(session))
      : (msgpackSerializer().stringify(session) as Buffer);
  return Buffer.concat([Buffer.of(0), deflateRawSync(plain)]);
}

describe("decompression bombs", () => {
  // Inflates 1,000-fold: 16 MiB of session from ~16 KB stored.
  const bomb = compressedSession(16 * MiB);
  const msgpackBomb = compressedSession(16 * MiB, "msgpack");

  it("is a small payload that a generous cap would read in full (so the refusals below are the cap's)", () => {
    expect(bomb.length).toBeLessThan(64 * 1024);
    const parsed = resolveSerializer(undefined, { maxPayloadBytes: 17 * MiB }).parse(bomb) as {
      blob: string;
    };
    expect(parsed.blob.length).toBeGreaterThan(16 * MiB - 100);
  });

  const ownBinary: Serializer = {
    binary: true,
    stringify: (value) => Buffer.from(JSON.stringify(value)),
    parse: (raw) => JSON.parse(raw.toString()) as unknown,
  };
  const cases: Array<[string, Serializer]> = [
    [
      "compression off (written by another configuration)",
      resolveSerializer("json", { maxPayloadBytes: MiB }),
    ],
    ["compression on", resolveSerializer("json", { compressThreshold: 64, maxPayloadBytes: MiB })],
    ["msgpack configured", resolveSerializer("msgpack", { maxPayloadBytes: MiB })],
    ["the default cap (1 MiB) when none is given", resolveSerializer(undefined)],
    ["the default cap with a bare compressThreshold", resolveSerializer(undefined, 64)],
    ["withCompression on its own", withCompression(jsonSerializer, 64, MiB)],
    [
      "the app's own binary serializer, compressed",
      resolveSerializer(ownBinary, { compressThreshold: 64, maxPayloadBytes: MiB }),
    ],
  ];
  for (const [name, reader] of cases) {
    it(`stops inflating at maxPayloadBytes and throws (a miss for the store): ${name}`, () => {
      expect(() => reader.parse(bomb)).toThrow();
      if (name !== "withCompression on its own") expect(() => reader.parse(msgpackBomb)).toThrow();
    });
  }

  it("reads a compressed session of exactly maxPayloadBytes, refuses one byte more", () => {
    const reader = resolveSerializer(undefined, { maxPayloadBytes: 4096 });
    expect(reader.parse(compressedSession(4096))).toMatchObject({ cookie });
    expect(() => reader.parse(compressedSession(4097))).toThrow();
  });

  it("does not inflate twice: a compressed payload inside a compressed one is corrupt", () => {
    const inner = compressedSession(4096);
    const nested = Buffer.concat([Buffer.of(0), deflateRawSync(inner)]);
    expect(() => resolveSerializer(undefined).parse(nested)).toThrow();
  });
});

describe("maxPayloadBytes applies to the uncompressed size", () => {
  it("refuses a 50 MB session that compresses under a 1 MiB cap, naming sizes only", () => {
    const serializer = resolveSerializer("json", { compressThreshold: 64, maxPayloadBytes: MiB });
    const session = { cookie, blob: "z".repeat(50_000_000), secret: "hunter2" };
    let thrown: unknown;
    try {
      serializer.stringify(session);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SessionPayloadTooLargeError);
    const error = thrown as SessionPayloadTooLargeError;
    expect(error.bytes).toBe(JSON.stringify(session).length);
    expect(error.limit).toBe(MiB);
    expect(error.message).not.toContain("hunter2");
  });

  it("refuses an uncompressed session over the cap too, and accepts one at the cap", () => {
    const serializer = resolveSerializer("json", { maxPayloadBytes: 1000 });
    const exact = { cookie, blob: "" };
    exact.blob = "b".repeat(1000 - JSON.stringify(exact).length);
    expect(Buffer.byteLength(serializer.stringify(exact) as string)).toBe(1000);
    expect(() => serializer.stringify({ ...exact, blob: `${exact.blob}b` })).toThrow(
      SessionPayloadTooLargeError,
    );
  });

  it("still compresses sessions under the cap, and reads them back", () => {
    const serializer = resolveSerializer("json", { compressThreshold: 64, maxPayloadBytes: MiB });
    const session = { cookie, blob: "c".repeat(500_000) };
    const bytes = serializer.stringify(session) as Buffer;
    expect(bytes[0]).toBe(0);
    expect(bytes.length).toBeLessThan(10_000);
    expect(serializer.parse(bytes)).toEqual(session);
  });
});

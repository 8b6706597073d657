import type * as NodeModule from "node:module";
import { describe, expect, it, vi } from "vitest";
import {
  jsonSerializer,
  msgpackSerializer,
  resolveSerializer,
  withCompression,
} from "../../src/record/codec/serializer.js";

const session = { cookie: { originalMaxAge: 1000 }, user: { id: 1, tags: ["a", "b"] }, text: "héllo ✓" };

describe("serializers", () => {
  it("json round-trips and drops prototype-polluting keys", () => {
    expect(jsonSerializer.parse(jsonSerializer.stringify(session))).toEqual(session);
    const parsed = jsonSerializer.parse(
      '{"a":1,"__proto__":{"x":1},"b":{"constructor":{"prototype":1},"c":2}}',
    ) as Record<string, unknown>;
    expect(parsed).toEqual({ a: 1, b: { c: 2 } });
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it("msgpack round-trips and strips unsafe keys", () => {
    const msgpack = msgpackSerializer();
    const bytes = msgpack.stringify(session);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(msgpack.parse(bytes)).toEqual(session);
    const hostile = msgpack.stringify(JSON.parse('{"a":1,"__proto__":{"x":1}}') as object);
    expect(msgpack.parse(hostile)).toEqual({ a: 1 });
  });

  it("compresses only at or over the threshold, and reads both", () => {
    const small = withCompression(jsonSerializer, 1000);
    const big = { ...session, blob: "x".repeat(5000) };
    const smallBytes = small.stringify(session) as Buffer;
    const bigBytes = small.stringify(big) as Buffer;
    expect(smallBytes[0]).toBe("{".charCodeAt(0));
    expect(bigBytes[0]).toBe(0);
    expect(bigBytes.length).toBeLessThan(1000);
    expect(small.parse(smallBytes)).toEqual(session);
    expect(small.parse(bigBytes)).toEqual(big);
  });

  it("accepts connect-redis's serializer shape", () => {
    const custom = resolveSerializer({
      parse: (s: string) => JSON.parse(s.slice(1)),
      stringify: (v: unknown) => `!${JSON.stringify(v)}`,
    });
    expect(custom.stringify({ a: 1 })).toBe('!{"a":1}');
    expect(custom.parse('!{"a":1}')).toEqual({ a: 1 });
  });

  it("throws on unreadable input (the store turns that into a miss)", () => {
    expect(() => jsonSerializer.parse("{nope")).toThrow();
    expect(() => withCompression(jsonSerializer, 10).parse(Buffer.of(0, 1, 2, 3))).toThrow();
  });
});

describe("msgpack without msgpackr installed", () => {
  it("fails with SerializerUnavailableError saying how to fix it", async () => {
    vi.resetModules();
    vi.doMock("node:module", async (importOriginal) => {
      const original = await importOriginal<typeof NodeModule>();
      return {
        ...original,
        createRequire: () => () => {
          throw Object.assign(new Error("Cannot find module 'msgpackr'"), { code: "MODULE_NOT_FOUND" });
        },
      };
    });
    try {
      const { msgpackSerializer: missing } = await import("../../src/record/codec/serializer.js");
      const { SerializerUnavailableError } = await import("../../src/errors.js");
      expect(() => missing()).toThrow(SerializerUnavailableError);
      expect(() => missing()).toThrow(/npm install msgpackr/);
    } finally {
      vi.doUnmock("node:module");
      vi.resetModules();
    }
  });
});

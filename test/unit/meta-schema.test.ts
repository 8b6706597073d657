import { describe, expect, it } from "vitest";
import {
  CLIENT_PLATFORMS,
  DEVICE_TYPES,
  META_FIELD_CAPS,
  sessionMetaSchema,
} from "../../src/users/meta-schema.js";
import { decodeSessionMeta, encodeSessionMeta } from "../../src/users/meta-codec.js";
import type { SessionMeta } from "../../src/users/meta-schema.js";
import { META_DEFAULTS } from "../support/session-meta.js";
import { UA } from "../support/user-agents.js";

function fullMeta(overrides: Partial<SessionMeta> = {}): SessionMeta {
  return {
    sessionId: "h_7f3a9c",
    userId: "user-42",
    applicationName: "turtle-web",
    sessionKeyType: "token",
    ip: "2001:db8::1",
    userAgent: UA.appIphone,
    appVersion: "5.12.0",
    installationId: "8c2b6a44-5c0e-4d1b-9f3e-2f1a7c9d0b11",
    device: "iPhone15,2",
    courseId: "c0ffee00-1111-4222-8333-444455556666",
    clientPlatform: "ios_app",
    browser: null,
    os: { name: "iOS", version: "18.1" },
    deviceType: "app",
    app: { name: "Turtle", version: "5.12.0" },
    signInAt: new Date("2025-06-01T10:00:00.000Z"),
    lastSeenAt: new Date("2025-06-02T08:30:15.123Z"),
    createdAt: new Date("2025-06-01T09:59:59.999Z"),
    expiresAt: new Date("2025-07-01T10:00:00.000Z"),
    ...overrides,
  };
}

describe("encodeSessionMeta / decodeSessionMeta", () => {
  it("round-trips every field with Date equality", () => {
    const meta = fullMeta();
    const decoded = decodeSessionMeta(encodeSessionMeta(meta));
    expect(decoded).toEqual(meta);
    expect(decoded?.signInAt).toBeInstanceOf(Date);
    expect(decoded?.signInAt.getTime()).toBe(meta.signInAt.getTime());
    expect(decoded?.lastSeenAt.getTime()).toBe(meta.lastSeenAt.getTime());
    expect(decoded?.createdAt.getTime()).toBe(meta.createdAt.getTime());
    expect(decoded?.expiresAt.getTime()).toBe(meta.expiresAt.getTime());
  });

  it("round-trips nulls and every platform and key type", () => {
    for (const clientPlatform of CLIENT_PLATFORMS) {
      const meta = fullMeta({ ...META_DEFAULTS, browser: null, os: null, app: null, clientPlatform });
      expect(decodeSessionMeta(encodeSessionMeta(meta))).toEqual(meta);
    }
  });

  it("round-trips every device type, and a browser with its version", () => {
    for (const deviceType of DEVICE_TYPES) {
      const meta = fullMeta({
        deviceType,
        browser: { name: "Chrome", version: "141.0.0.0" },
        os: { name: "Windows", version: "NT 10.0" },
        app: null,
      });
      expect(decodeSessionMeta(encodeSessionMeta(meta))).toEqual(meta);
    }
  });

  it("decodes a session recorded before the device fields existed, without inventing them", () => {
    const { browser: _b, os: _o, deviceType: _d, app: _a, ...old } = fullMeta();
    const json = JSON.parse(encodeSessionMeta(fullMeta())) as Record<string, unknown>;
    for (const key of ["browser", "os", "deviceType", "app"]) delete json[key];
    const decoded = decodeSessionMeta(json);
    expect(decoded).toEqual(old);
    expect(decoded && "deviceType" in decoded ? decoded.deviceType : undefined).toBeUndefined();
    // Encoding it again does not write fields it never had.
    expect(Object.keys(JSON.parse(encodeSessionMeta(decoded!)) as object)).not.toContain("browser");
  });

  it("re-cleans and re-caps stored device fields, and drops unusable ones", () => {
    const stored = JSON.parse(encodeSessionMeta(fullMeta())) as Record<string, unknown>;
    const decoded = decodeSessionMeta({
      ...stored,
      browser: { name: "\u202eChrome\u0000", version: "1".repeat(500) },
      os: { name: "", version: "1" },
      deviceType: "fridge",
      app: "Turtle",
    });
    expect(decoded?.browser).toEqual({
      name: "Chrome",
      version: "1".repeat(META_FIELD_CAPS.softwareVersion),
    });
    expect(decoded?.os).toBeNull();
    expect(decoded?.deviceType).toBeUndefined();
    expect(decoded?.app).toBeNull();
  });

  it("stores dates as ISO-8601 strings and nothing but the schema's fields", () => {
    const withStray = { ...fullMeta(), cookieSid: "s:secret" };
    const json = JSON.parse(encodeSessionMeta(withStray)) as Record<string, unknown>;
    expect(json["signInAt"]).toBe("2025-06-01T10:00:00.000Z");
    expect(json["expiresAt"]).toBe("2025-07-01T10:00:00.000Z");
    expect(Object.keys(json).sort()).toEqual(Object.keys(sessionMetaSchema.shape).sort());
    expect(json["app"]).toEqual({ name: "Turtle", version: "5.12.0" });
  });

  it("accepts an already-parsed object, with Date or string dates", () => {
    const meta = fullMeta();
    expect(decodeSessionMeta(JSON.parse(encodeSessionMeta(meta)))).toEqual(meta);
    expect(decodeSessionMeta({ ...meta })).toEqual(meta);
  });

  it("decodes a sparse old payload (userId + sessionId + createdAt)", () => {
    const createdAt = "2023-01-05T12:00:00.000Z";
    const expiresAt = new Date("2026-01-01T00:00:00.000Z");
    const decoded = decodeSessionMeta(JSON.stringify({ userId: "u1", sessionId: "s1", createdAt }), {
      expiresAt,
    });
    expect(decoded).toEqual<SessionMeta>({
      sessionId: "s1",
      userId: "u1",
      ...META_DEFAULTS,
      signInAt: new Date(createdAt),
      lastSeenAt: new Date(createdAt),
      createdAt: new Date(createdAt),
      expiresAt,
    });
  });

  it("fills dates from each other", () => {
    const base = { userId: "u", sessionId: "s", expiresAt: "2026-01-01T00:00:00.000Z" };
    const signIn = "2025-01-01T00:00:00.000Z";
    const seen = "2025-02-01T00:00:00.000Z";

    const fromSignIn = decodeSessionMeta({ ...base, signInAt: signIn, lastSeenAt: seen });
    expect(fromSignIn?.createdAt).toEqual(new Date(signIn));
    expect(fromSignIn?.lastSeenAt).toEqual(new Date(seen));

    const fromLastSeen = decodeSessionMeta({ ...base, lastSeenAt: seen });
    expect(fromLastSeen?.createdAt).toEqual(new Date(seen));
    expect(fromLastSeen?.signInAt).toEqual(new Date(seen));

    const fromCreated = decodeSessionMeta({ ...base, createdAt: signIn, lastSeenAt: seen });
    expect(fromCreated?.signInAt).toEqual(new Date(signIn));
    expect(fromCreated?.lastSeenAt).toEqual(new Date(seen));
  });

  it("reads epoch-millisecond and offset ISO dates", () => {
    const decoded = decodeSessionMeta({
      userId: "u",
      sessionId: "s",
      createdAt: 1_700_000_000_000,
      expiresAt: "2026-01-01T02:00:00+02:00",
    });
    expect(decoded?.createdAt).toEqual(new Date(1_700_000_000_000));
    expect(decoded?.expiresAt).toEqual(new Date("2026-01-01T00:00:00.000Z"));
  });

  it("uses the fallback ids and expiry only when the record lacks them", () => {
    const fallback = {
      sessionId: "from-key",
      userId: "from-key-user",
      expiresAt: new Date("2030-01-01T00:00:00Z"),
    };
    const stored = decodeSessionMeta(encodeSessionMeta(fullMeta()), fallback);
    expect(stored?.sessionId).toBe("h_7f3a9c");
    expect(stored?.userId).toBe("user-42");
    expect(stored?.expiresAt).toEqual(fullMeta().expiresAt);

    const sparse = decodeSessionMeta({ createdAt: "2025-01-01T00:00:00Z", sessionId: "" }, fallback);
    expect(sparse?.sessionId).toBe("from-key");
    expect(sparse?.userId).toBe("from-key-user");
    expect(sparse?.expiresAt).toEqual(fallback.expiresAt);
  });

  it.each<[string, unknown]>([
    ["undefined", undefined],
    ["null", null],
    ["a number", 42],
    ["a boolean", true],
    ["an array", [{ userId: "u", sessionId: "s" }]],
    ["a non-JSON string", "not json"],
    ["an empty string", ""],
    ["truncated JSON", '{"userId":"u","sessionId":'],
    ["JSON null", "null"],
    ["a JSON number", "42"],
    ["a JSON string", '"{\\"userId\\":\\"u\\"}"'],
    ["a JSON array", "[]"],
    ["binary garbage", "\u0000\u00ff\ufffd{{"],
  ])("returns null for %s", (_name, raw) => {
    expect(decodeSessionMeta(raw, { sessionId: "s", userId: "u", expiresAt: new Date() })).toBeNull();
  });

  it("returns null, never throws, for values that throw when read: a getter, a revoked proxy, a Date-like object", () => {
    const base = encodeSessionMeta(fullMeta()) as unknown as Record<string, unknown>;
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const throwingTime = new Date();
    Object.defineProperty(throwingTime, "getTime", {
      value: () => {
        throw new Error("getTime");
      },
    });
    const throwingName = Object.defineProperty({}, "name", {
      enumerable: true,
      get() {
        throw new Error("name");
      },
    });
    for (const [name, raw] of [
      ["a Date-like object", { ...base, signInAt: Object.create(Date.prototype) as unknown }],
      ["a Date whose getTime throws", { ...base, signInAt: throwingTime }],
      ["a browser whose name getter throws", { ...base, browser: throwingName }],
      ["an app that is a revoked proxy", { ...base, app: revoked.proxy }],
    ] as const) {
      expect(decodeSessionMeta(raw), name).toBeNull();
    }
  });

  it("returns null without ids, even after fallback", () => {
    const dates = { createdAt: "2025-01-01T00:00:00Z", expiresAt: "2026-01-01T00:00:00Z" };
    expect(decodeSessionMeta({ ...dates, userId: "u" })).toBeNull();
    expect(decodeSessionMeta({ ...dates, sessionId: "s" })).toBeNull();
    expect(decodeSessionMeta({ ...dates, sessionId: "s", userId: "" }, { userId: "" })).toBeNull();
    expect(decodeSessionMeta({ ...dates, sessionId: 7, userId: ["u"] })).toBeNull();
  });

  it("returns null without usable dates", () => {
    const ids = { sessionId: "s", userId: "u" };
    // No creation-like date at all.
    expect(decodeSessionMeta({ ...ids, expiresAt: "2026-01-01T00:00:00Z" })).toBeNull();
    expect(
      decodeSessionMeta({ ...ids, createdAt: "yesterday", expiresAt: "2026-01-01T00:00:00Z" }),
    ).toBeNull();
    // No expiry and no fallback, or an invalid fallback.
    expect(decodeSessionMeta({ ...ids, createdAt: "2025-01-01T00:00:00Z" })).toBeNull();
    expect(
      decodeSessionMeta({ ...ids, createdAt: "2025-01-01T00:00:00Z" }, { expiresAt: new Date("nope") }),
    ).toBeNull();
    expect(decodeSessionMeta({}, { ...ids, expiresAt: new Date() })).toBeNull();
  });

  it("treats a field of the wrong type as missing instead of failing the record", () => {
    const decoded = decodeSessionMeta(
      JSON.stringify({
        sessionId: "s",
        userId: "u",
        applicationName: 5,
        sessionKeyType: 7,
        ip: 127001,
        userAgent: { evil: true },
        appVersion: ["5.12.0"],
        installationId: false,
        device: null,
        courseId: 42,
        clientPlatform: "windows_phone",
        signInAt: "not a date",
        lastSeenAt: true,
        createdAt: "2025-03-01T00:00:00.000Z",
        expiresAt: "2025-04-01T00:00:00.000Z",
      }),
    );
    expect(decoded).toEqual<SessionMeta>({
      sessionId: "s",
      userId: "u",
      ...META_DEFAULTS,
      // Older writers stored numeric course ids.
      courseId: "42",
      signInAt: new Date("2025-03-01T00:00:00.000Z"),
      lastSeenAt: new Date("2025-03-01T00:00:00.000Z"),
      createdAt: new Date("2025-03-01T00:00:00.000Z"),
      expiresAt: new Date("2025-04-01T00:00:00.000Z"),
    });
  });

  it("ignores unknown fields", () => {
    const raw = {
      ...JSON.parse(encodeSessionMeta(fullMeta())),
      cookie: { secure: true },
      sid: "s:secret",
      v: 2,
    };
    const decoded = decodeSessionMeta(raw);
    expect(decoded).toEqual(fullMeta());
    expect(Object.keys(decoded ?? {})).not.toContain("sid");
  });

  it("re-cleans and re-caps stored header-like strings", () => {
    const decoded = decodeSessionMeta(
      encodeSessionMeta(
        fullMeta({
          userAgent: `\u202e${"U".repeat(10 * 1024)}`,
          device: "iPhone\u0000\u200b15,2\u0085",
          ip: ` ${"1".repeat(200)} `,
          courseId: "   ",
        }),
      ),
    );
    expect(decoded?.userAgent).toBe("U".repeat(META_FIELD_CAPS.userAgent));
    expect(decoded?.device).toBe("iPhone15,2");
    expect(decoded?.ip).toBe("1".repeat(META_FIELD_CAPS.ip));
    expect(decoded?.courseId).toBeNull();
  });

  it("drops __proto__, constructor and prototype keys from a stored JSON payload", () => {
    const raw =
      '{"__proto__":{"polluted":true,"userId":"attacker"},"constructor":{"prototype":{"polluted":true}},' +
      '"prototype":{"polluted":true},"sessionId":"s","userId":"u",' +
      '"createdAt":"2025-01-01T00:00:00.000Z","expiresAt":"2026-01-01T00:00:00.000Z",' +
      '"device":{"__proto__":{"polluted":true}}}';
    const decoded = decodeSessionMeta(raw);
    expect(decoded?.userId).toBe("u");
    expect(decoded?.device).toBeNull();
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded ?? {}, "__proto__")).toBe(false);
    expect(Object.hasOwn(decoded ?? {}, "constructor")).toBe(false);
    expect(Object.hasOwn(decoded ?? {}, "prototype")).toBe(false);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("drops an own __proto__ key from an already-parsed object", () => {
    // JSON.parse creates "__proto__" as an own property; a later spread or
    // Object.assign would turn it into the prototype.
    const parsed = JSON.parse(
      '{"__proto__":{"userId":"attacker","polluted":true},"sessionId":"s",' +
        '"createdAt":"2025-01-01T00:00:00.000Z","expiresAt":"2026-01-01T00:00:00.000Z"}',
    ) as Record<string, unknown>;
    expect(Object.hasOwn(parsed, "__proto__")).toBe(true);
    // The inherited-looking userId must not be picked up from the __proto__ payload.
    expect(decodeSessionMeta(parsed)).toBeNull();
    const withUser = decodeSessionMeta(parsed, { userId: "u" });
    expect(withUser?.userId).toBe("u");
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("returns null rather than throwing for an object with a throwing getter", () => {
    const hostile = {
      get userId(): string {
        throw new Error("boom");
      },
    };
    expect(decodeSessionMeta(hostile)).toBeNull();
  });

  it("decoded records satisfy the strict schema", () => {
    const decoded = decodeSessionMeta({ userId: "u", sessionId: "s", createdAt: 0, expiresAt: 1 });
    expect(decoded).not.toBeNull();
    expect(sessionMetaSchema.safeParse(decoded).success).toBe(true);
  });
});

describe("sessionMetaSchema", () => {
  it("rejects header-like strings over their cap", () => {
    const over = fullMeta({ device: "d".repeat(META_FIELD_CAPS.device + 1) });
    const result = sessionMetaSchema.safeParse(over);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(["device"]);
  });

  it("counts the cap in code points", () => {
    expect(
      sessionMetaSchema.safeParse(fullMeta({ device: "📱".repeat(META_FIELD_CAPS.device) })).success,
    ).toBe(true);
  });
});

import express from "express";
import type { Request } from "express";
import request from "supertest";
import { describe, expect, it } from "vitest";
import {
  CLIENT_PLATFORMS,
  DEVICE_TYPES,
  META_FIELD_CAPS,
  describeDevice,
  decodeSessionMeta,
  detectClientPlatform,
  encodeSessionMeta,
  requestMetadata,
  sessionMetaSchema,
} from "../../src/users/meta.js";
import type { ClientPlatform, RequestLike, RequestMetadata, SessionMeta } from "../../src/users/meta.js";
import { META_DEFAULTS, NO_REQUEST_METADATA } from "../support/session-meta.js";
import { UA } from "../support/user-agents.js";

function req(headers: RequestLike["headers"], extra: Omit<RequestLike, "headers"> = {}): RequestLike {
  return { headers, ...extra };
}

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

describe("detectClientPlatform", () => {
  const browser = (userAgent: string | null) =>
    detectClientPlatform({ userAgent, appVersion: null, installationId: null, device: null });

  it.each<[keyof typeof UA, ClientPlatform]>([
    ["iphoneSafari", "mobile_web"],
    ["iphoneChrome", "mobile_web"],
    ["pixelChrome", "mobile_web"],
    ["samsungInternet", "mobile_web"],
    ["androidFirefox", "mobile_web"],
    ["androidTabletChrome", "mobile_web"],
    ["ipadSafariMobileMode", "mobile_web"],
    ["ipadSafariDesktopMode", "web"],
    ["windowsChrome", "web"],
    ["windowsEdge", "web"],
    ["windowsFirefox", "web"],
    ["linuxFirefox", "web"],
    ["macSafari", "web"],
    ["chromeOs", "web"],
    ["curl", "web"],
    ["googlebot", "web"],
    ["googlebotSmartphone", "web"],
    ["okhttp", "web"],
  ])("browser request with %s UA is %s", (name, expected) => {
    expect(browser(UA[name])).toBe(expected);
  });

  it("treats a missing or blank UA as web", () => {
    expect(browser(null)).toBe("web");
    expect(browser("")).toBe("web");
    expect(browser("   ")).toBe("web");
    expect(browser("x")).toBe("web");
  });

  it("does not treat a Dalvik UA without app headers as an app", () => {
    // bowser calls it a tablet (no "Mobile" token), which is still mobile web.
    expect(browser(UA.dalvik)).toBe("mobile_web");
  });

  it.each<[string, Partial<Parameters<typeof detectClientPlatform>[0]>, ClientPlatform]>([
    ["iOS app UA with AppVersion", { userAgent: UA.appIphone, appVersion: "5.12.0" }, "ios_app"],
    ["iPad app UA with installation id", { userAgent: UA.appIpad, installationId: "inst-1" }, "ios_app"],
    ["okhttp with X-DEVICE Pixel 8", { userAgent: UA.okhttp, appVersion: "5.12.0", device: "Pixel 8" }, "android_app"],
    ["Dalvik UA with AppVersion", { userAgent: UA.dalvik, appVersion: "5.12.0" }, "android_app"],
    ["Samsung model in X-DEVICE", { userAgent: UA.okhttp, installationId: "i", device: "SM-S918B" }, "android_app"],
    ["X-DEVICE 'android'", { userAgent: null, appVersion: "5.12.0", device: "android" }, "android_app"],
    ["X-DEVICE iPhone identifier", { userAgent: UA.appCfNetwork, appVersion: "5.12.0", device: "iPhone15,2" }, "ios_app"],
    ["X-DEVICE iPad identifier", { userAgent: null, appVersion: "5.12.0", device: "iPad13,1" }, "ios_app"],
    ["X-DEVICE 'iOS'", { userAgent: UA.okhttp, appVersion: "5.12.0", device: "iOS" }, "ios_app"],
    // X-DEVICE wins over the UA: the app's HTTP stack may send any UA.
    ["X-DEVICE over UA", { userAgent: UA.appIphone, appVersion: "5.12.0", device: "Pixel 8" }, "android_app"],
    // An iOS app on an iPad whose web view sends the desktop UA.
    ["X-DEVICE iPad with Mac UA", { userAgent: UA.ipadSafariDesktopMode, appVersion: "5", device: "iPad13,1" }, "ios_app"],
    ["unknown OS falls back to browser class (okhttp)", { userAgent: UA.okhttp, appVersion: "5.12.0" }, "web"],
    ["unknown OS falls back to browser class (CFNetwork)", { userAgent: UA.appCfNetwork, appVersion: "5.12.0" }, "web"],
    ["unknown device, mobile UA", { userAgent: UA.pixelChrome, appVersion: "5.12.0", device: "Nokia X" }, "android_app"],
    ["app with no UA and no device", { userAgent: null, appVersion: "5.12.0" }, "web"],
    ["blank app headers are not an app", { userAgent: UA.dalvik, appVersion: " ", installationId: "" }, "mobile_web"],
    ["X-DEVICE ignored for browsers", { userAgent: UA.windowsChrome, device: "iPhone15,2" }, "web"],
  ])("%s", (_name, signals, expected) => {
    expect(
      detectClientPlatform({ userAgent: null, appVersion: null, installationId: null, device: null, ...signals }),
    ).toBe(expected);
  });

  it("only returns known platforms", () => {
    for (const userAgent of Object.values(UA)) {
      expect(CLIENT_PLATFORMS).toContain(browser(userAgent));
    }
  });
});

describe("requestMetadata", () => {
  it("reads every header and req.ip", () => {
    const meta = requestMetadata(
      req(
        {
          "user-agent": UA.okhttp,
          appversion: "5.12.0",
          "x-installation-id": "8c2b6a44-5c0e-4d1b-9f3e-2f1a7c9d0b11",
          "x-device": "Pixel 8",
          "x-course-id": "course-7",
        },
        { ip: "203.0.113.7" },
      ),
    );
    expect(meta).toEqual<RequestMetadata>({
      ip: "203.0.113.7",
      userAgent: UA.okhttp,
      appVersion: "5.12.0",
      installationId: "8c2b6a44-5c0e-4d1b-9f3e-2f1a7c9d0b11",
      device: "Pixel 8",
      courseId: "course-7",
      clientPlatform: "android_app",
      browser: null,
      os: { name: "Android", version: null },
      deviceType: "app",
      // okhttp names the HTTP library, not the app: the label falls back to applicationName.
      app: { name: null, version: "5.12.0" },
    });
  });

  it("returns nulls, web and an unknown device for a bare request", () => {
    expect(requestMetadata(req({}))).toEqual<RequestMetadata>({
      ...NO_REQUEST_METADATA,
      browser: null,
      os: null,
      deviceType: "unknown",
      app: null,
    });
  });

  it("classifies a browser request", () => {
    expect(requestMetadata(req({ "user-agent": UA.iphoneSafari })).clientPlatform).toBe("mobile_web");
    expect(requestMetadata(req({ "user-agent": UA.windowsEdge })).clientPlatform).toBe("web");
  });

  it("takes the first value of an array header", () => {
    const meta = requestMetadata(
      req({ "user-agent": [UA.macSafari, UA.iphoneSafari], "x-device": ["iPhone15,2", "Pixel 8"], appversion: ["5"] }),
    );
    expect(meta.userAgent).toBe(UA.macSafari);
    expect(meta.device).toBe("iPhone15,2");
    expect(meta.clientPlatform).toBe("ios_app");
    expect(requestMetadata(req({ "user-agent": [] })).userAgent).toBeNull();
  });

  it("caps 10 KB header values to META_FIELD_CAPS", () => {
    const huge = "A".repeat(10 * 1024);
    const meta = requestMetadata(
      req(
        {
          "user-agent": huge,
          appversion: huge,
          "x-installation-id": huge,
          "x-device": huge,
          "x-course-id": huge,
        },
        { ip: huge },
      ),
    );
    expect(meta.userAgent).toHaveLength(META_FIELD_CAPS.userAgent);
    expect(meta.appVersion).toHaveLength(META_FIELD_CAPS.appVersion);
    expect(meta.installationId).toHaveLength(META_FIELD_CAPS.installationId);
    expect(meta.device).toHaveLength(META_FIELD_CAPS.device);
    expect(meta.courseId).toHaveLength(META_FIELD_CAPS.courseId);
    expect(meta.ip).toHaveLength(META_FIELD_CAPS.ip);
  });

  it("caps by code point without splitting a surrogate pair", () => {
    const cap = META_FIELD_CAPS.device;
    const device = requestMetadata(req({ "x-device": "x".repeat(cap - 1) + "📱📱📱" })).device;
    expect(device).toBe("x".repeat(cap - 1) + "📱");
    expect([...(device ?? "")]).toHaveLength(cap);
    // The cap counts code points, so a string of astral characters keeps `cap` of them.
    expect(requestMetadata(req({ "x-device": "📱".repeat(cap + 5) })).device).toBe("📱".repeat(cap));
  });

  it("strips C0, DEL, C1 and bidi/format controls, then trims", () => {
    const meta = requestMetadata(
      req({
        "user-agent": " \u0000Mozilla/5.0\u0007 (X11)\u007f\u0085\u009b ",
        "x-device": "\u202ePixel\u200b 8\u2066\u2069\ufeff",
        appversion: "\u200e5.12.0\u200f\u061c",
        "x-installation-id": "id\r\nSet-Cookie: x=1",
        "x-course-id": "course\u2028\u20297",
      }),
    );
    expect(meta.userAgent).toBe("Mozilla/5.0 (X11)");
    expect(meta.device).toBe("Pixel 8");
    expect(meta.appVersion).toBe("5.12.0");
    expect(meta.installationId).toBe("idSet-Cookie: x=1");
    expect(meta.courseId).toBe("course7");
  });

  it("turns values that are empty after cleaning into null", () => {
    const meta = requestMetadata(
      req({ "user-agent": "   ", appversion: "\u202e\u202c", "x-device": "\u0000\u0001", "x-course-id": "" }, { ip: "" }),
    );
    expect(meta).toMatchObject({ userAgent: null, appVersion: null, device: null, courseId: null, ip: null });
    // Blank app headers must not make a request look like the app.
    expect(meta.clientPlatform).toBe("web");
  });

  it("drops lone surrogates", () => {
    expect(requestMetadata(req({ "x-device": "Pixel\ud800 8\udfff" })).device).toBe("Pixel 8");
  });

  describe("course fallback", () => {
    it("prefers the X-COURSE-ID header", () => {
      const meta = requestMetadata(
        req({ "x-course-id": "from-header" }, { session: { course_uuid: "from-uuid", course_id: 7 } }),
      );
      expect(meta.courseId).toBe("from-header");
    });

    it("falls back to session.course_uuid, then session.course_id", () => {
      expect(requestMetadata(req({}, { session: { course_uuid: "from-uuid", course_id: 7 } })).courseId).toBe(
        "from-uuid",
      );
      expect(requestMetadata(req({}, { session: { course_id: 7 } })).courseId).toBe("7");
      expect(requestMetadata(req({}, { session: { course_id: "legacy-7" } })).courseId).toBe("legacy-7");
    });

    it("skips blank or mistyped values", () => {
      expect(
        requestMetadata(req({ "x-course-id": "  " }, { session: { course_uuid: "from-uuid" } })).courseId,
      ).toBe("from-uuid");
      expect(requestMetadata(req({}, { session: { course_uuid: { id: 1 }, course_id: 9 } })).courseId).toBe("9");
      expect(requestMetadata(req({}, { session: { course_uuid: "", course_id: Number.NaN } })).courseId).toBeNull();
      expect(requestMetadata(req({}, { session: {} })).courseId).toBeNull();
      expect(requestMetadata(req({})).courseId).toBeNull();
    });

    it("cleans and caps session values too", () => {
      const long = "c".repeat(1000);
      expect(requestMetadata(req({}, { session: { course_uuid: `\u202e${long}` } })).courseId).toBe(
        "c".repeat(META_FIELD_CAPS.courseId),
      );
    });

    it("reads the course from a class-based session object", () => {
      class FakeSession {
        readonly course_uuid = "class-course";
      }
      expect(requestMetadata(req({}, { session: new FakeSession() })).courseId).toBe("class-course");
    });
  });

  describe("with Express", () => {
    function appCapturing(trustProxy: boolean) {
      const app = express();
      if (trustProxy) app.set("trust proxy", 1);
      app.get("/", (request: Request, res) => {
        // Type check: an Express Request is a RequestLike.
        const meta = requestMetadata(request);
        res.json({ meta, socket: request.socket.remoteAddress ?? null });
      });
      return app;
    }

    it("honours trust proxy: req.ip is the X-Forwarded-For client", async () => {
      const res = await request(appCapturing(true))
        .get("/")
        .set("X-Forwarded-For", "198.51.100.66, 203.0.113.7")
        .set("User-Agent", UA.pixelChrome)
        .expect(200);
      const body = res.body as { meta: RequestMetadata; socket: string | null };
      // One trusted hop: the last entry is the client; the spoofable first one is ignored.
      expect(body.meta.ip).toBe("203.0.113.7");
      expect(body.meta.userAgent).toBe(UA.pixelChrome);
      expect(body.meta.clientPlatform).toBe("mobile_web");
    });

    it("without trust proxy uses the socket address and ignores X-Forwarded-For", async () => {
      const res = await request(appCapturing(false)).get("/").set("X-Forwarded-For", "203.0.113.7").expect(200);
      const body = res.body as { meta: RequestMetadata; socket: string | null };
      expect(body.socket).not.toBeNull();
      expect(body.meta.ip).toBe(body.socket);
      expect(body.meta.ip).not.toBe("203.0.113.7");
    });
  });
});

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
      const meta = fullMeta({ deviceType, browser: { name: "Chrome", version: "141.0.0.0" }, os: { name: "Windows", version: "NT 10.0" }, app: null });
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
    expect(decoded?.browser).toEqual({ name: "Chrome", version: "1".repeat(META_FIELD_CAPS.softwareVersion) });
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
    const decoded = decodeSessionMeta(JSON.stringify({ userId: "u1", sessionId: "s1", createdAt }), { expiresAt });
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
    const fallback = { sessionId: "from-key", userId: "from-key-user", expiresAt: new Date("2030-01-01T00:00:00Z") };
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
    expect(decodeSessionMeta({ ...ids, createdAt: "yesterday", expiresAt: "2026-01-01T00:00:00Z" })).toBeNull();
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
    const raw = { ...JSON.parse(encodeSessionMeta(fullMeta())), cookie: { secure: true }, sid: "s:secret", v: 2 };
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
    expect(sessionMetaSchema.safeParse(fullMeta({ device: "📱".repeat(META_FIELD_CAPS.device) })).success).toBe(true);
  });
});

describe("requestMetadata with the previous request's metadata", () => {
  const iphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

  it("reuses the platform when the signals it depends on are unchanged", () => {
    const first = requestMetadata({ ip: "192.0.2.1", headers: { "user-agent": iphone } });
    expect(first.clientPlatform).toBe("mobile_web");
    // A deliberately wrong platform shows it was reused, not recomputed.
    const again = requestMetadata({ ip: "192.0.2.9", headers: { "user-agent": iphone } }, { ...first, clientPlatform: "web" });
    expect(again).toMatchObject({ ip: "192.0.2.9", clientPlatform: "web" });
  });

  it("reuses the device fields too, and parses again for a session recorded without them", () => {
    const first = requestMetadata({ headers: { "user-agent": iphone } });
    const marked = { ...first, browser: { name: "Marked", version: null } };
    expect(requestMetadata({ headers: { "user-agent": iphone } }, marked).browser).toEqual({ name: "Marked", version: null });
    const { browser: _b, os: _o, deviceType: _d, app: _a, ...old } = marked;
    expect(requestMetadata({ headers: { "user-agent": iphone } }, old)).toMatchObject({
      browser: { name: "Safari", version: "18.1" },
      os: { name: "iOS", version: "18.1" },
      deviceType: "mobile",
    });
  });

  it("detects again when a signal changed", () => {
    const first = requestMetadata({ headers: { "user-agent": iphone } });
    const app = requestMetadata({ headers: { "user-agent": iphone, appversion: "5.1.0" } }, { ...first, clientPlatform: "web" });
    expect(app.clientPlatform).toBe("ios_app");
  });
});

describe("describeDevice", () => {
  const browser = (userAgent: string) => describeDevice({ userAgent, appVersion: null, installationId: null, device: null });

  it.each<[keyof typeof UA, string | null, string | null, string]>([
    ["windowsChrome", "Chrome", "Windows", "desktop"],
    ["windowsEdge", "Microsoft Edge", "Windows", "desktop"],
    ["windowsFirefox", "Firefox", "Windows", "desktop"],
    ["macSafari", "Safari", "macOS", "desktop"],
    ["linuxChrome", "Chrome", "Linux", "desktop"],
    ["chromeOs", "Chrome", "Chrome OS", "desktop"],
    ["iphoneSafari", "Safari", "iOS", "mobile"],
    ["iphoneChrome", "Chrome", "iOS", "mobile"],
    ["ipadSafariMobileMode", "Safari", "iOS", "tablet"],
    ["pixelChrome", "Chrome", "Android", "mobile"],
    ["samsungInternet", "Samsung Internet for Android", "Android", "mobile"],
    ["androidTabletChrome", "Chrome", "Android", "tablet"],
    ["curl", null, null, "unknown"],
    ["okhttp", null, null, "unknown"],
  ])("%s → %s on %s, %s", (name, browserName, osName, deviceType) => {
    const device = browser(UA[name]);
    expect(device.browser?.name ?? null).toBe(browserName);
    expect(device.os?.name ?? null).toBe(osName);
    expect(device.deviceType).toBe(deviceType);
    expect(device.app).toBeNull();
  });

  it("keeps the versions the user agent tells", () => {
    expect(browser(UA.iphoneChrome)).toMatchObject({
      browser: { name: "Chrome", version: "141.0.7390.41" },
      os: { name: "iOS", version: "18.6" },
    });
    expect(browser(UA.linuxFirefox).os).toEqual({ name: "Linux", version: null });
  });

  it("describes the apps from their own headers: app name, version, OS, no browser", () => {
    expect(
      describeDevice({ userAgent: UA.appIphone, appVersion: "5.12.0", installationId: "i-1", device: "iPhone15,2" }),
    ).toEqual({
      clientPlatform: "ios_app",
      browser: null,
      os: { name: "iOS", version: null },
      deviceType: "app",
      app: { name: "Turtle", version: "5.12.0" },
    });
    expect(describeDevice({ userAgent: UA.dalvik, appVersion: "3.2", installationId: null, device: null })).toEqual({
      clientPlatform: "android_app",
      browser: null,
      os: { name: "Android", version: "14" },
      deviceType: "app",
      app: { name: null, version: "3.2" },
    });
  });

  it("an app whose OS nothing reveals is still an app", () => {
    expect(describeDevice({ userAgent: UA.okhttp, appVersion: "3.2", installationId: null, device: null })).toMatchObject({
      clientPlatform: "web",
      os: null,
      deviceType: "app",
      app: { name: null, version: "3.2" },
    });
  });

  it("caps a browser name and version like every other field", () => {
    const device = browser(`Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/${"9".repeat(200)}.0 Safari/537.36`);
    expect(device.browser?.name).toBe("Chrome");
    expect([...(device.browser?.version ?? "")].length).toBeLessThanOrEqual(META_FIELD_CAPS.softwareVersion);
  });
});

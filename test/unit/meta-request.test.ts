import express from "express";
import type { Request } from "express";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { requestMetadata } from "../../src/users/meta-request.js";
import type { RequestLike, RequestMetadata } from "../../src/users/meta-request.js";
import { META_FIELD_CAPS } from "../../src/users/meta-schema.js";
import { NO_REQUEST_METADATA } from "../support/session-meta.js";
import { UA } from "../support/user-agents.js";

function req(headers: RequestLike["headers"], extra: Omit<RequestLike, "headers"> = {}): RequestLike {
  return { headers, ...extra };
}

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
      req({
        "user-agent": [UA.macSafari, UA.iphoneSafari],
        "x-device": ["iPhone15,2", "Pixel 8"],
        appversion: ["5"],
      }),
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

  it("records an IPv4 client seen through a dual-stack socket as its IPv4 address", () => {
    const ipOf = (ip: string) => requestMetadata(req({}, { ip })).ip;
    expect(ipOf("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(ipOf("::FFFF:203.0.113.7")).toBe("203.0.113.7");
    expect(ipOf("0:0:0:0:0:ffff:198.51.100.23")).toBe("198.51.100.23");
    // Real IPv6 addresses, and text that only looks mapped, are kept as they are.
    expect(ipOf("::1")).toBe("::1");
    expect(ipOf("2001:db8::ffff:192.0.2.1")).toBe("2001:db8::ffff:192.0.2.1");
    expect(ipOf("::ffff:7f00:1")).toBe("::ffff:7f00:1");
    expect(ipOf("::ffff:300.1.2.3")).toBe("::ffff:300.1.2.3");
    expect(ipOf("203.0.113.7")).toBe("203.0.113.7");
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
      req(
        { "user-agent": "   ", appversion: "\u202e\u202c", "x-device": "\u0000\u0001", "x-course-id": "" },
        { ip: "" },
      ),
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
      expect(requestMetadata(req({}, { session: { course_uuid: { id: 1 }, course_id: 9 } })).courseId).toBe(
        "9",
      );
      expect(
        requestMetadata(req({}, { session: { course_uuid: "", course_id: Number.NaN } })).courseId,
      ).toBeNull();
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
      const res = await request(appCapturing(false))
        .get("/")
        .set("X-Forwarded-For", "203.0.113.7")
        .expect(200);
      const body = res.body as { meta: RequestMetadata; socket: string | null };
      expect(body.socket).not.toBeNull();
      // The socket's address, as IPv4 if the server listened on "::" (::ffff:127.0.0.1).
      expect(body.meta.ip).toBe(body.socket?.replace(/^::ffff:/i, ""));
      expect(body.meta.ip).not.toBe("203.0.113.7");
    });
  });
});

describe("requestMetadata with the previous request's metadata", () => {
  const iphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

  it("reuses the platform when the signals it depends on are unchanged", () => {
    const first = requestMetadata({ ip: "192.0.2.1", headers: { "user-agent": iphone } });
    expect(first.clientPlatform).toBe("mobile_web");
    // A deliberately wrong platform shows it was reused, not recomputed.
    const again = requestMetadata(
      { ip: "192.0.2.9", headers: { "user-agent": iphone } },
      { ...first, clientPlatform: "web" },
    );
    expect(again).toMatchObject({ ip: "192.0.2.9", clientPlatform: "web" });
  });

  it("reuses the device fields too, and parses again for a session recorded without them", () => {
    const first = requestMetadata({ headers: { "user-agent": iphone } });
    const marked = { ...first, browser: { name: "Marked", version: null } };
    expect(requestMetadata({ headers: { "user-agent": iphone } }, marked).browser).toEqual({
      name: "Marked",
      version: null,
    });
    const { browser: _b, os: _o, deviceType: _d, app: _a, ...old } = marked;
    expect(requestMetadata({ headers: { "user-agent": iphone } }, old)).toMatchObject({
      browser: { name: "Safari", version: "18.1" },
      os: { name: "iOS", version: "18.1" },
      deviceType: "mobile",
    });
  });

  it("detects again when a signal changed", () => {
    const first = requestMetadata({ headers: { "user-agent": iphone } });
    const app = requestMetadata(
      { headers: { "user-agent": iphone, appversion: "5.1.0" } },
      { ...first, clientPlatform: "web" },
    );
    expect(app.clientPlatform).toBe("ios_app");
  });
});

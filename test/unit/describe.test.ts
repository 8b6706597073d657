import { describe, expect, it } from "vitest";
import { requestMetadata, type RequestLike } from "../../src/users/meta-request.js";
import type { SessionMeta } from "../../src/users/meta-schema.js";
import { describeSession, UNKNOWN_DEVICE_LABEL } from "../../src/users/describe.js";
import { UA } from "../support/user-agents.js";

/** The metadata recordAuthenticatedRequest would store for a request with these headers. */
function recorded(headers: RequestLike["headers"], applicationName = "Turtle"): SessionMeta {
  const now = new Date("2026-01-01T00:00:00.000Z");
  return {
    sessionId: "h_1",
    userId: "u-1",
    applicationName,
    sessionKeyType: "cookie",
    ...requestMetadata({ headers, ip: "192.0.2.1" }),
    signInAt: now,
    lastSeenAt: now,
    createdAt: now,
    expiresAt: now,
  };
}

describe("describeSession", () => {
  it.each<[string, RequestLike["headers"], string]>([
    ["desktop Chrome on Windows", { "user-agent": UA.windowsChrome }, "Chrome on Windows"],
    ["desktop Edge on Windows", { "user-agent": UA.windowsEdge }, "Edge on Windows"],
    ["desktop Firefox on Windows", { "user-agent": UA.windowsFirefox }, "Firefox on Windows"],
    ["desktop Safari on a Mac", { "user-agent": UA.macSafari }, "Safari on macOS"],
    ["desktop Chrome on Linux", { "user-agent": UA.linuxChrome }, "Chrome on Linux"],
    ["a Chromebook", { "user-agent": UA.chromeOs }, "Chrome on ChromeOS"],
    ["iOS Safari", { "user-agent": UA.iphoneSafari }, "Safari on iPhone"],
    ["iOS Chrome (CriOS)", { "user-agent": UA.iphoneChrome }, "Chrome on iPhone"],
    ["iPad Safari in mobile mode", { "user-agent": UA.ipadSafariMobileMode }, "Safari on iPad"],
    ["Android Chrome", { "user-agent": UA.pixelChrome }, "Chrome on Android"],
    ["Samsung Internet", { "user-agent": UA.samsungInternet }, "Samsung Internet on Android"],
    ["Android Firefox", { "user-agent": UA.androidFirefox }, "Firefox on Android"],
    [
      "the Android app (okhttp, AppVersion, X-DEVICE)",
      { "user-agent": UA.okhttp, appversion: "3.2", "x-device": "Pixel 8", "x-installation-id": "i-1" },
      "Turtle for Android 3.2",
    ],
    ["the Android app on Dalvik", { "user-agent": UA.dalvik, appversion: "3.2" }, "Turtle for Android 3.2"],
    [
      "the iOS app (its own product token)",
      { "user-agent": UA.appIphone, appversion: "5.12.0", "x-device": "iPhone15,2" },
      "Turtle for iOS 5.12.0",
    ],
    [
      "the iOS app on CFNetwork",
      { "user-agent": UA.appCfNetwork, appversion: "5.12.0", "x-device": "iPhone15,2" },
      "Turtle for iOS 5.12.0",
    ],
    ["curl", { "user-agent": UA.curl }, "curl"],
    ["an empty User-Agent", { "user-agent": "" }, UNKNOWN_DEVICE_LABEL],
    ["no headers at all", {}, "Unknown device"],
  ])("%s", (_case, headers, label) => {
    expect(describeSession(recorded(headers))).toBe(label);
  });

  it("names an app by the session's application when its user agent is a library's and it sends no name", () => {
    expect(
      describeSession(
        recorded({ "user-agent": UA.okhttp, appversion: "3.2", "x-device": "Pixel 8" }, "Lernapp"),
      ),
    ).toBe("Lernapp for Android 3.2");
    expect(describeSession(recorded({ "user-agent": UA.okhttp, appversion: "3.2" }, ""))).toBe("App 3.2");
  });

  it("labels a session recorded before the device fields existed from its stored headers", () => {
    const {
      browser: _b,
      os: _o,
      deviceType: _d,
      app: _a,
      ...old
    } = recorded({ "user-agent": UA.iphoneSafari });
    expect(describeSession(old)).toBe("Safari on iPhone");
  });

  it("uses the stored fields rather than parsing the user agent again", () => {
    const meta = {
      ...recorded({ "user-agent": UA.windowsChrome }),
      browser: { name: "Vivaldi", version: "7.0" },
    };
    expect(describeSession(meta)).toBe("Vivaldi on Windows");
  });

  it("returns plain text: markup in a user agent stays text for the page to escape", () => {
    const label = describeSession(recorded({ "user-agent": "<script>alert(1)</script>" }));
    expect(label).not.toContain("<script>");
    expect(label).toBe(UNKNOWN_DEVICE_LABEL);
  });
});

import { describe, expect, it } from "vitest";
import { describeDevice, detectClientPlatform } from "../../src/users/device.js";
import { CLIENT_PLATFORMS, META_FIELD_CAPS } from "../../src/users/meta-schema.js";
import type { ClientPlatform } from "../../src/users/meta-schema.js";
import { UA } from "../support/user-agents.js";

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
    [
      "okhttp with X-DEVICE Pixel 8",
      { userAgent: UA.okhttp, appVersion: "5.12.0", device: "Pixel 8" },
      "android_app",
    ],
    ["Dalvik UA with AppVersion", { userAgent: UA.dalvik, appVersion: "5.12.0" }, "android_app"],
    [
      "Samsung model in X-DEVICE",
      { userAgent: UA.okhttp, installationId: "i", device: "SM-S918B" },
      "android_app",
    ],
    ["X-DEVICE 'android'", { userAgent: null, appVersion: "5.12.0", device: "android" }, "android_app"],
    [
      "X-DEVICE iPhone identifier",
      { userAgent: UA.appCfNetwork, appVersion: "5.12.0", device: "iPhone15,2" },
      "ios_app",
    ],
    ["X-DEVICE iPad identifier", { userAgent: null, appVersion: "5.12.0", device: "iPad13,1" }, "ios_app"],
    ["X-DEVICE 'iOS'", { userAgent: UA.okhttp, appVersion: "5.12.0", device: "iOS" }, "ios_app"],
    // X-DEVICE wins over the UA: the app's HTTP stack may send any UA.
    ["X-DEVICE over UA", { userAgent: UA.appIphone, appVersion: "5.12.0", device: "Pixel 8" }, "android_app"],
    // An iOS app on an iPad whose web view sends the desktop UA.
    [
      "X-DEVICE iPad with Mac UA",
      { userAgent: UA.ipadSafariDesktopMode, appVersion: "5", device: "iPad13,1" },
      "ios_app",
    ],
    [
      "unknown OS falls back to browser class (okhttp)",
      { userAgent: UA.okhttp, appVersion: "5.12.0" },
      "web",
    ],
    [
      "unknown OS falls back to browser class (CFNetwork)",
      { userAgent: UA.appCfNetwork, appVersion: "5.12.0" },
      "web",
    ],
    [
      "unknown device, mobile UA",
      { userAgent: UA.pixelChrome, appVersion: "5.12.0", device: "Nokia X" },
      "android_app",
    ],
    ["app with no UA and no device", { userAgent: null, appVersion: "5.12.0" }, "web"],
    [
      "blank app headers are not an app",
      { userAgent: UA.dalvik, appVersion: " ", installationId: "" },
      "mobile_web",
    ],
    ["X-DEVICE ignored for browsers", { userAgent: UA.windowsChrome, device: "iPhone15,2" }, "web"],
  ])("%s", (_name, signals, expected) => {
    expect(
      detectClientPlatform({
        userAgent: null,
        appVersion: null,
        installationId: null,
        device: null,
        ...signals,
      }),
    ).toBe(expected);
  });

  it("only returns known platforms", () => {
    for (const userAgent of Object.values(UA)) {
      expect(CLIENT_PLATFORMS).toContain(browser(userAgent));
    }
  });
});

describe("describeDevice", () => {
  const browser = (userAgent: string) =>
    describeDevice({ userAgent, appVersion: null, installationId: null, device: null });

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
      describeDevice({
        userAgent: UA.appIphone,
        appVersion: "5.12.0",
        installationId: "i-1",
        device: "iPhone15,2",
      }),
    ).toEqual({
      clientPlatform: "ios_app",
      browser: null,
      os: { name: "iOS", version: null },
      deviceType: "app",
      app: { name: "Turtle", version: "5.12.0" },
    });
    expect(
      describeDevice({ userAgent: UA.dalvik, appVersion: "3.2", installationId: null, device: null }),
    ).toEqual({
      clientPlatform: "android_app",
      browser: null,
      os: { name: "Android", version: "14" },
      deviceType: "app",
      app: { name: null, version: "3.2" },
    });
  });

  it("an app whose OS nothing reveals is still an app", () => {
    expect(
      describeDevice({ userAgent: UA.okhttp, appVersion: "3.2", installationId: null, device: null }),
    ).toMatchObject({
      clientPlatform: "web",
      os: null,
      deviceType: "app",
      app: { name: null, version: "3.2" },
    });
  });

  it("caps a browser name and version like every other field", () => {
    const device = browser(
      `Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/${"9".repeat(200)}.0 Safari/537.36`,
    );
    expect(device.browser?.name).toBe("Chrome");
    expect([...(device.browser?.version ?? "")].length).toBeLessThanOrEqual(META_FIELD_CAPS.softwareVersion);
  });
});

/**
 * The demo's live panel in a real Chromium (issue 21 item 4): the account page opens a
 * Server-Sent Events stream that ticks the clock and the device count; when another device
 * signs this one out, the stream is closed by `closeOnRevoke` and the panel says so at once,
 * without a reload, and does not reconnect. The other device's panel stays live. Screenshots
 * go to test-results/screenshots/ (with UPDATE_SCREENSHOTS=1 also to docs/screenshots/).
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { UA } from "../support/user-agents.js";
import { demoInBrowserForThisFile, saveScreenshot } from "./demo-in-browser.js";

const demo = demoInBrowserForThisFile();

const device = (userAgent: string, width: number, height: number, ip: string): Promise<Page> =>
  demo.newPage({
    userAgent,
    viewport: { width, height },
    deviceScaleFactor: 2,
    extraHTTPHeaders: { "X-Forwarded-For": ip },
    locale: "en-GB",
    timezoneId: "UTC",
  });

const signIn = (page: Page, user: string) => demo.signIn(page, user);

const state = (page: Page) => page.locator("#live").getAttribute("data-state");
const text = (page: Page, part: string) => page.locator(`#live [data-live="${part}"]`).textContent();

describe("the account page's live panel in Chromium", () => {
  it(
    "ticks while signed in, and closes the moment another device signs this one out",
    { timeout: 90_000 },
    async () => {
      const user = "alice";
      const desktop = await device(UA.windowsChrome, 1280, 800, "203.0.113.7");
      const phone = await device(UA.iphoneSafari, 390, 844, "198.51.100.23");
      await signIn(desktop, user);
      await signIn(phone, user);
      await desktop.reload();

      // Live: the stream is open, its ticks fill the clock and count both devices.
      await expect.poll(() => state(desktop), { timeout: 15_000 }).toBe("open");
      await expect.poll(() => text(desktop, "devices"), { timeout: 15_000 }).toBe("2 devices");
      expect(await text(desktop, "state")).toBe("Live");
      expect(await text(desktop, "clock")).toMatch(/\d{2}:\d{2}:\d{2}/);
      await saveScreenshot(desktop, "live-panel-open.png");
      let streams = 0;
      desktop.on("request", (request) => {
        if (new URL(request.url()).pathname === "/live") streams += 1;
      });

      // The phone signs the desktop out, from its own account page.
      await phone.reload();
      await expect.poll(() => state(phone), { timeout: 15_000 }).toBe("open");
      const row = phone.locator('#sessions > li[data-current="false"]');
      await row.locator("details.confirm summary").click();
      await row.getByRole("button", { name: /Sign out/ }).click();
      await phone.waitForURL(`${demo.base}/account`);

      // The desktop's panel says so without a reload (a generous "did not hang" bound).
      await expect.poll(() => state(desktop), { timeout: 10_000 }).toBe("revoked");
      expect(await text(desktop, "state")).toBe(
        "This device was signed out. Reload the page to sign in again.",
      );
      expect(await text(desktop, "devices")).toBe("");
      await saveScreenshot(desktop, "live-panel-revoked.png");

      // The phone's own panel stays live, now counting one device.
      await expect.poll(() => state(phone), { timeout: 15_000 }).toBe("open");
      await expect.poll(() => text(phone, "devices"), { timeout: 15_000 }).toBe("1 device");
      // The desktop's script closed its stream instead of letting EventSource reconnect (it
      // would, 3 s after an end): no request to /live from the desktop while the test ran on.
      expect(streams).toBe(0);
      // And a reload of the desktop is the sign-in page, telling why.
      await desktop.reload();
      await expect
        .poll(() => desktop.locator("#notice").getAttribute("data-notice"))
        .toBe("signed-out-elsewhere");
    },
  );
});

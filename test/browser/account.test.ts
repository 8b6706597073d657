/**
 * The demo's account page in a real Chromium, as two people would use it: an iPhone
 * (390 px wide, in Tokyo) and a Windows desktop (in New York), signed in as one user.
 * Labels, the current device first, approximate places from the location hook, signing a
 * device out with confirmation, buttons whose accessible names say which device, the
 * notices (once: not again on reload), times in the viewer's own time zone (and in UTC,
 * saying so, without script), no operators' links, and no horizontal scrolling on the phone.
 *
 * Screenshots go to test-results/screenshots/ on every run; with UPDATE_SCREENSHOTS=1 they
 * also replace the ones the README shows (docs/screenshots/).
 */
import { randomUUID } from "node:crypto";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { locateFromTable } from "../../demo/location.js";
import { UA } from "../support/user-agents.js";
import { demoInBrowserForThisFile, saveScreenshot } from "./demo-in-browser.js";

// The location hook as an app would give it; the Mac's address is not in it.
const demo = demoInBrowserForThisFile({
  locate: locateFromTable({ "198.51.100.23": "Lisbon, Portugal", "203.0.113.7": "Toronto, Canada" }),
});

interface DeviceOptions {
  userAgent: string;
  width: number;
  height: number;
  mobile: boolean;
  ip: string;
  locale?: string;
  timezoneId?: string;
  javaScriptEnabled?: boolean;
}

/**
 * A device: its own cookies, user agent, screen, language and time zone, and (behind the
 * demo's loopback proxy trust) address.
 */
async function device(options: DeviceOptions): Promise<Page> {
  // Nothing may load from elsewhere: the page aborts any request that is not to the demo.
  const page = await demo.newPage({
    userAgent: options.userAgent,
    viewport: { width: options.width, height: options.height },
    deviceScaleFactor: 2,
    isMobile: options.mobile,
    hasTouch: options.mobile,
    extraHTTPHeaders: { "X-Forwarded-For": options.ip },
    locale: options.locale ?? "en-US",
    timezoneId: options.timezoneId ?? "UTC",
    javaScriptEnabled: options.javaScriptEnabled ?? true,
  });
  return page;
}

const PHONE_ZONE = { locale: "en-GB", timezoneId: "Asia/Tokyo" } as const;
const DESKTOP_ZONE = { locale: "en-US", timezoneId: "America/New_York" } as const;
const iphone = () =>
  device({
    userAgent: UA.iphoneSafari,
    width: 390,
    height: 844,
    mobile: true,
    ip: "198.51.100.23",
    ...PHONE_ZONE,
  });
const windows = (more: Partial<DeviceOptions> = {}) =>
  device({
    userAgent: UA.windowsChrome,
    width: 1280,
    height: 800,
    mobile: false,
    ip: "203.0.113.7",
    ...DESKTOP_ZONE,
    ...more,
  });
const mac = () =>
  device({ userAgent: UA.macSafari, width: 1440, height: 900, mobile: false, ip: "192.0.2.44" });

const signIn = (page: Page, user: string) => demo.signIn(page, user);

interface Row {
  label: string;
  current: boolean;
  facts: string;
}

async function deviceRows(page: Page): Promise<Row[]> {
  return page.locator("#sessions > li").evaluateAll((items) =>
    items.map((li) => ({
      label: (li.querySelector(".label")?.textContent ?? "").replace("This device", "").trim(),
      current: li.getAttribute("data-current") === "true",
      facts: [...li.querySelectorAll(".facts")].map((p) => p.textContent).join(" "),
    })),
  );
}

/**
 * Every button and disclosure on the page as Chromium exposes it to screen readers (its
 * accessibility tree, over CDP): "role: name", sorted. Playwright's own role model
 * has no role for `<summary>`, so this asks the browser itself.
 */
async function controls(page: Page): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send("Accessibility.getFullAXTree");
    return nodes
      .filter(
        (node) =>
          !node.ignored && (node.role?.value === "button" || node.role?.value === "DisclosureTriangle"),
      )
      .map((node) => `${String(node.role?.value)}: ${String(node.name?.value)}`)
      .sort();
  } finally {
    await cdp.detach();
  }
}

/** `date` as the page's script should write it for a viewer in `zone`: "5 Jan 2026" and "23:03" (or "9:03 AM"). */
function partsIn(date: Date, zone: { locale: string; timezoneId: string }): { day: string; time: string } {
  const format = (options: Intl.DateTimeFormatOptions) =>
    new Intl.DateTimeFormat(zone.locale, { timeZone: zone.timezoneId, ...options })
      .format(date)
      .replace(/\s/g, " ");
  return { day: format({ dateStyle: "medium" }), time: format({ timeStyle: "short" }) };
}

/** No horizontal scrolling: the page is no wider than the screen. */
async function overflow(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  // A string: runs in the page, whose DOM types this Node project does not compile against.
  return page.evaluate<{ scrollWidth: number; clientWidth: number }>(
    "({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth })",
  );
}

describe("account page in Chromium", () => {
  // Generous "did not hang" bounds: three browsers on a shared two-core machine.
  it(
    "labels both devices, signs the phone out from the desktop with confirmation, and tells the phone why",
    { timeout: 90_000 },
    async () => {
      const user = "alice";
      const phone = await iphone();
      const desktop = await windows();
      const laptop = await mac();
      await signIn(laptop, user);
      await signIn(phone, user);
      await signIn(desktop, user);

      // Each sees itself first, as "This device", then the others, most recent first.
      await phone.reload();
      const fromPhone = await deviceRows(phone);
      expect(fromPhone.map((r) => [r.label, r.current])).toEqual([
        ["Safari on iPhone", true],
        ["Chrome on Windows", false],
        ["Safari on macOS", false],
      ]);
      expect(fromPhone[0]?.facts).toContain("198.51.100.23");
      expect(fromPhone[0]?.facts).toContain("Active now");
      // Approximate places from the app's location hook; the Mac's address has none.
      expect(fromPhone[0]?.facts).toContain("Lisbon, Portugal");
      expect(fromPhone[1]?.facts).toContain("Toronto, Canada");
      expect(await phone.locator("#sessions > li").nth(2).locator(".place").count()).toBe(0);
      expect(fromPhone[2]?.facts).toContain("192.0.2.44");
      expect(fromPhone[1]?.facts).toMatch(/Active (just now|\d+ seconds? ago)/);
      const fromDesktop = await deviceRows(desktop);
      expect(fromDesktop.map((r) => [r.label, r.current])).toEqual([
        ["Chrome on Windows", true],
        ["Safari on iPhone", false],
        ["Safari on macOS", false],
      ]);
      // A page for the account's owner: no link to the operators' JSON counters, or anywhere.
      expect(await desktop.getByRole("link").count()).toBe(0);
      expect(await desktop.locator('a[href*="stats"]').count()).toBe(0);

      // Every button says which device it is for, as a screen reader hears it.
      expect(await controls(desktop)).toEqual(
        [
          "button: Sign out of this device",
          // The sensitive action (test/browser/lifetime.test.ts): asks again when not fresh.
          "button: Download your data",
          "DisclosureTriangle: Details of Chrome on Windows",
          "DisclosureTriangle: Details of Safari on iPhone",
          "DisclosureTriangle: Sign out Safari on iPhone",
          "DisclosureTriangle: Details of Safari on macOS",
          "DisclosureTriangle: Sign out Safari on macOS",
          "DisclosureTriangle: Sign out all other devices",
        ].sort(),
      );
      // No raw user agent unless asked for.
      const rawAgent = desktop.getByText(UA.iphoneSafari);
      await expect.poll(() => rawAgent.isVisible()).toBe(false);
      await desktop.locator("#sessions > li").nth(1).locator("details.more summary").click();
      await expect.poll(() => rawAgent.isVisible()).toBe(true);

      // The phone at 390 px: nothing wider than the screen, details and confirmation open too.
      expect(await phone.evaluate<number>("window.innerWidth")).toBe(390);
      let width = await overflow(phone);
      expect(width.scrollWidth).toBeLessThanOrEqual(width.clientWidth);
      for (const summary of await phone.locator("#sessions details summary").all()) await summary.click();
      width = await overflow(phone);
      expect(width.scrollWidth).toBeLessThanOrEqual(width.clientWidth);
      await phone.reload();
      await saveScreenshot(phone, "account-phone.png");

      // Desktop signs the phone out: a first click only asks.
      const phoneRow = desktop.locator("#sessions > li", { hasText: "Safari on iPhone" });
      const confirm = desktop.getByRole("button", { name: "Sign out Safari on iPhone", exact: true });
      expect(await confirm.count()).toBe(0);
      await phoneRow.locator("summary", { hasText: "Sign out" }).click();
      await expect.poll(() => confirm.isVisible()).toBe(true);
      expect(await phoneRow.locator(".confirm-box p").textContent()).toBe(
        "Sign out Safari on iPhone? It will need to sign in again.",
      );
      // Open, the disclosure is the way back, and says so.
      expect(await controls(desktop)).toContain("DisclosureTriangle: Cancel signing out Safari on iPhone");
      expect(
        await desktop.getByRole("button", { name: "Sign out Safari on macOS", exact: true }).count(),
      ).toBe(0);
      await saveScreenshot(desktop, "account-desktop.png");
      expect((await deviceRows(desktop)).map((r) => r.label)).toContain("Safari on iPhone");
      await confirm.click();
      await desktop.waitForURL(`${demo.base}/account`);
      expect((await deviceRows(desktop)).map((r) => r.label)).toEqual([
        "Chrome on Windows",
        "Safari on macOS",
      ]);
      expect(await desktop.locator("#notice").textContent()).toBe(
        "Safari on iPhone has been signed out. Anyone using it will have to sign in again.",
      );
      // Said once: a reload shows the page without it.
      await desktop.reload();
      expect(await desktop.locator("#sessions > li").count()).toBe(2);
      expect(await desktop.locator("#notice").count()).toBe(0);

      // The phone's next request: signed out, and told why.
      await phone.reload();
      expect(await phone.locator("#notice").textContent()).toBe("You were signed out from another device.");
      expect(await phone.locator("form#sign-in").isVisible()).toBe(true);
      width = await overflow(phone);
      expect(width.scrollWidth).toBeLessThanOrEqual(width.clientWidth);
      await saveScreenshot(phone, "signed-out-phone.png");
      // Once only.
      await phone.reload();
      expect(await phone.locator("#notice").count()).toBe(0);
    },
  );

  it(
    "signs out all other devices after confirmation, and each of them hears of it",
    { timeout: 90_000 },
    async () => {
      const user = `bob-${randomUUID().slice(0, 8)}`;
      const phone = await iphone();
      const desktop = await windows();
      const laptop = await mac();
      for (const page of [phone, laptop, desktop]) await signIn(page, user);
      expect(await deviceRows(desktop)).toHaveLength(3);

      await desktop.locator("#revoke-others summary").click();
      expect(await desktop.locator("#revoke-others .confirm-box p").textContent()).toBe(
        "Sign out all 2 other devices? They will need to sign in again.",
      );
      await desktop
        .locator("#revoke-others")
        .getByRole("button", { name: "Sign out all other devices", exact: true })
        .click();
      await desktop.waitForURL(`${demo.base}/account`);
      expect(await desktop.locator("#notice").textContent()).toBe(
        "Your 2 other devices have been signed out.",
      );
      expect(await deviceRows(desktop)).toEqual([
        expect.objectContaining({ label: "Chrome on Windows", current: true }),
      ]);
      expect(await desktop.locator("#revoke-others").count()).toBe(0);
      await desktop.reload();
      expect(await deviceRows(desktop)).toHaveLength(1);
      expect(await desktop.locator("#notice").count()).toBe(0);

      for (const page of [phone, laptop]) {
        await page.reload();
        expect(await page.locator("#notice").textContent()).toBe("You were signed out from another device.");
      }

      // Signing yourself out is not news.
      await desktop.getByRole("button", { name: "Sign out of this device" }).click();
      await desktop.waitForURL(`${demo.base}/`);
      expect(await desktop.locator("form#sign-in").isVisible()).toBe(true);
      expect(await desktop.locator("#notice").count()).toBe(0);
    },
  );

  it(
    "shows exact times in each viewer's own time zone, readable without hovering, and in UTC (saying so) without script",
    { timeout: 90_000 },
    async () => {
      const user = `carol-${randomUUID().slice(0, 8)}`;
      const phone = await iphone();
      const desktop = await windows();
      const noScript = await windows({ javaScriptEnabled: false, ip: "192.0.2.99" });
      for (const page of [phone, desktop, noScript]) await signIn(page, user);

      // The sign-in time of the phone's session, as each viewer sees it.
      const signedInOf = (page: Page) =>
        page
          .locator("#sessions > li", { hasText: "Safari on iPhone" })
          .locator("dt:text-is('Signed in') + dd time");
      const iso = await signedInOf(phone).getAttribute("datetime");
      const at = new Date(iso ?? "");
      expect(at.getTime()).not.toBeNaN();
      expect(await signedInOf(desktop).getAttribute("datetime")).toBe(iso);

      // Reachable from the keyboard: the details open with Enter, no hover needed.
      const phoneDetails = phone.locator("#sessions > li.current details.more");
      await phoneDetails.locator("summary").focus();
      await phone.keyboard.press("Enter");
      await expect.poll(() => signedInOf(phone).isVisible()).toBe(true);

      for (const [page, zone] of [
        [phone, PHONE_ZONE],
        [desktop, DESKTOP_ZONE],
      ] as const) {
        const text = ((await signedInOf(page).textContent()) ?? "").replace(/\s/g, " ");
        const expected = partsIn(at, zone);
        expect(text).toContain(expected.day);
        expect(text).toContain(expected.time);
        expect(text).not.toContain("UTC");
        // The row's day, and the exact time on hover of the relative one, in the same zone.
        const row = page.locator("#sessions > li", { hasText: "Safari on iPhone" });
        expect(((await row.locator(".signed-in time").textContent()) ?? "").replace(/\s/g, " ")).toBe(
          expected.day,
        );
        expect(await row.locator(".seen time").getAttribute("title")).not.toContain("UTC");
      }
      // Tokyo and New York are 13 or 14 hours apart: the two viewers do not read the same time.
      expect(await signedInOf(phone).textContent()).not.toBe(await signedInOf(desktop).textContent());

      // Without script the server's text stays: UTC, and it says so.
      const utc = partsIn(at, { locale: "en-GB", timezoneId: "UTC" });
      expect(await signedInOf(noScript).textContent()).toBe(`${utc.day}, ${utc.time} UTC`);
    },
  );
});

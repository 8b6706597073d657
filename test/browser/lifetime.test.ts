/**
 * Lifetimes and freshness in the demo, in a real Chromium (issue 21 items 1, 2 and 4): each
 * device row says when its session expires (a day after sign-in for a browser session, 30
 * days with "Remember me": the demo's lifetime profiles), and "Download your data" asks the
 * user to confirm it is them when the session's last authentication is older than the demo
 * allows, then goes on.
 *
 * Screenshots go to test-results/screenshots/ on every run.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createDemoApp } from "../../demo/app.js";
import { DEMO_LIFETIMES } from "../../demo/sensitive.js";
import { RelsSession } from "../../src/index.js";
import { UA } from "../support/user-agents.js";
import { launchChromium } from "./chromium.js";
import { serveDemo, type ServedDemo } from "./demo-server.js";
import { deleteNamespace } from "../support/cleanup.js";

const url = inject("redisUrl");
const namespace = `t-browser-life-${randomUUID()}`;
const ARTIFACTS = join("test-results", "screenshots");
/** Short, so the test sees a session go stale; long enough for a redirect to land well inside it. */
const FRESH_MAX_AGE_MS = 2_500;
const DAY_MS = 86_400_000;

let browser: Browser | undefined;
let served: ServedDemo | undefined;
let base: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  RelsSession.configure({
    applicationName: "Turtle",
    redisOptions: { url, namespace },
    sessions: { lifetimes: DEMO_LIFETIMES },
  });
  served = await serveDemo(createDemoApp({ freshMaxAgeMs: FRESH_MAX_AGE_MS }));
  base = served.base;
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await served?.close();
  await RelsSession.close();
  await deleteNamespace(url, namespace);
});

async function device(userAgent: string, width: number, height: number, mobile: boolean): Promise<Page> {
  browser ??= await launchChromium();
  const context = await browser.newContext({
    userAgent,
    viewport: { width, height },
    deviceScaleFactor: 2,
    isMobile: mobile,
    hasTouch: mobile,
    locale: "en-US",
    timezoneId: "UTC",
  });
  contexts.push(context);
  const page = await context.newPage();
  await page.route("**/*", (route) =>
    route.request().url().startsWith(base) ? route.continue() : route.abort(),
  );
  return page;
}

/** Signs in; returns when the sign-in was answered (its session authenticated no later). */
async function signIn(page: Page, user: string, rememberMe: boolean): Promise<number> {
  await page.goto(`${base}/`);
  await page.getByLabel("User name").fill(user);
  if (rememberMe) await page.getByLabel("Remember me for 30 days").check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await expect.poll(() => page.locator("#user").textContent()).toBe(user);
  return Date.now();
}

/** Each row's label and the instant its "Expires on" names. */
async function expiries(page: Page): Promise<Array<{ label: string; expiresAt: number; latest: string }>> {
  return page.locator("#sessions > li").evaluateAll((items) =>
    items.map((li) => ({
      label: (li.querySelector(".label")?.textContent ?? "").replace("This device", "").trim(),
      expiresAt: Date.parse(li.querySelector(".expires time")?.getAttribute("datetime") ?? ""),
      latest:
        [...li.querySelectorAll("dt")].find((dt) => dt.textContent === "Expires at the latest")
          ?.nextElementSibling?.textContent ?? "",
    })),
  ) as Promise<Array<{ label: string; expiresAt: number; latest: string }>>;
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

describe("lifetimes and freshness in the demo, in Chromium", () => {
  it(
    "each device says when it expires: a day for a browser session, 30 days with Remember me",
    { timeout: 60_000 },
    async () => {
      const desktop = await device(UA.windowsChrome, 1280, 800, false);
      const phone = await device(UA.iphoneSafari, 390, 844, true);
      const before = Date.now();
      const desktopAt = await signIn(desktop, "erin", true);
      const phoneAt = await signIn(phone, "erin", false);
      await desktop.reload();
      const rows = await expiries(desktop);
      expect(rows.map((r) => r.label)).toEqual(["Chrome on Windows", "Safari on iPhone"]);
      const [remembered, browserSession] = rows;
      expect(remembered!.expiresAt).toBeGreaterThanOrEqual(before + 30 * DAY_MS);
      expect(remembered!.expiresAt).toBeLessThanOrEqual(desktopAt + 30 * DAY_MS);
      expect(browserSession!.expiresAt).toBeGreaterThanOrEqual(before + DAY_MS);
      expect(browserSession!.expiresAt).toBeLessThanOrEqual(phoneAt + DAY_MS);
      expect(remembered!.latest).not.toBe("no limit");
      // Shown in words on the row, in the viewer's language and zone.
      const day = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeZone: "UTC" }).format(
        remembered!.expiresAt,
      );
      expect(await desktop.locator("#sessions > li").first().locator(".expires").textContent()).toBe(
        `Expires on ${day}`,
      );
      await screenshot(desktop, "lifetime-account-desktop.png");
    },
  );

  it(
    "Download your data asks to confirm it is you once the session is not fresh, then goes on",
    { timeout: 60_000 },
    async () => {
      const page = await device(UA.windowsChrome, 1280, 800, false);
      const signedInBy = await signIn(page, "frank", false);

      // Not fresh any more: the demo allows FRESH_MAX_AGE_MS since the last authentication.
      await expect.poll(() => Date.now() > signedInBy + FRESH_MAX_AGE_MS, { timeout: 10_000 }).toBe(true);
      await page.getByRole("button", { name: "Download your data" }).click();
      await page.waitForURL(`${base}/confirm`);
      expect(await page.locator("h1").textContent()).toBe("Confirm it is you");
      await screenshot(page, "lifetime-confirm.png");

      // The wrong answer changes nothing.
      await page.getByLabel(/User name/).fill("mallory");
      await page.getByRole("button", { name: "Confirm" }).click();
      expect(await page.getByRole("alert").textContent()).toBe("That is not your user name.");

      await page.getByLabel(/User name/).fill("frank");
      await page.getByRole("button", { name: "Confirm" }).click();
      await page.waitForURL(`${base}/account/data`);
      expect(await page.locator("h1").textContent()).toBe("Your data");
      expect(await page.locator("#confirmed").textContent()).toContain("(password)");
      const data = JSON.parse((await page.locator("#data").textContent()) ?? "{}") as {
        userId: string;
        devices: Array<{ device: string }>;
      };
      expect(data).toMatchObject({ userId: "frank", devices: [{ device: "Chrome on Windows" }] });
      await screenshot(page, "lifetime-data.png");

      // Signed out, the action sends to the sign-in page, not to the confirmation.
      await page.goto(`${base}/account`);
      await page.locator("#logout").click();
      await page.goto(`${base}/account/data`);
      await page.waitForURL(`${base}/`);
      expect(await page.locator("form#sign-in").isVisible()).toBe(true);
    },
  );
});

/**
 * The demo's live panel in a real Chromium (issue 21 item 4): the account page opens a
 * Server-Sent Events stream that ticks the clock and the device count; when another device
 * signs this one out, the stream is closed by `closeOnRevoke` and the panel says so at once,
 * without a reload, and does not reconnect. The other device's panel stays live. Screenshots
 * go to test-results/screenshots/ (with UPDATE_SCREENSHOTS=1 also to docs/screenshots/).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createDemoApp } from "../../demo/app.js";
import { RelsSession } from "../../src/index.js";
import { UA } from "../support/user-agents.js";
import { deleteNamespace } from "../support/cleanup.js";
import { launchChromium } from "./chromium.js";

const url = inject("redisUrl");
const namespace = `t-browser-live-${randomUUID()}`;
const ARTIFACTS = join("test-results", "screenshots");
const README_SCREENSHOTS = join("docs", "screenshots");

let browser: Browser | undefined;
let server: Server;
let base: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  RelsSession.configure({ applicationName: "Turtle", redisOptions: { url, namespace } });
  server = createServer(createDemoApp());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  if (server?.listening) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await RelsSession.close();
  await deleteNamespace(url, namespace);
});

async function device(userAgent: string, width: number, height: number, ip: string): Promise<Page> {
  browser ??= await launchChromium();
  const context = await browser.newContext({
    userAgent,
    viewport: { width, height },
    deviceScaleFactor: 2,
    extraHTTPHeaders: { "X-Forwarded-For": ip },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  contexts.push(context);
  const page = await context.newPage();
  await page.route("**/*", (route) =>
    route.request().url().startsWith(base) ? route.continue() : route.abort(),
  );
  return page;
}

async function signIn(page: Page, user: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel("User name").fill(user);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await expect.poll(() => page.locator("#user").textContent()).toBe(user);
}

const state = (page: Page) => page.locator("#live").getAttribute("data-state");
const text = (page: Page, part: string) => page.locator(`#live [data-live="${part}"]`).textContent();

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  if (process.env["UPDATE_SCREENSHOTS"] === "1") {
    mkdirSync(README_SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(README_SCREENSHOTS, name), fullPage: true });
  }
}

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
      await screenshot(desktop, "live-panel-open.png");
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
      await phone.waitForURL(`${base}/account`);

      // The desktop's panel says so without a reload (a generous "did not hang" bound).
      await expect.poll(() => state(desktop), { timeout: 10_000 }).toBe("revoked");
      expect(await text(desktop, "state")).toBe(
        "This device was signed out. Reload the page to sign in again.",
      );
      expect(await text(desktop, "devices")).toBe("");
      await screenshot(desktop, "live-panel-revoked.png");

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

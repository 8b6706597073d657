/**
 * The demo's account page in a real Chromium, as two people would use it: an iPhone
 * (390 px wide) and a Windows desktop, signed in as one user. Labels, the current device
 * first, signing a device out with confirmation, the notice the signed-out device sees,
 * "sign out all other devices", and no horizontal scrolling on the phone.
 *
 * Screenshots go to test-results/screenshots/ on every run; with UPDATE_SCREENSHOTS=1 they
 * also replace the ones the README shows (docs/screenshots/).
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
import { launchChromium } from "./chromium.js";
import { deleteNamespace } from "../support/cleanup.js";

const url = inject("redisUrl");
const namespace = `t-browser-${randomUUID()}`;
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

/** A device: its own cookies, user agent, screen and (behind the demo's loopback proxy trust) address. */
async function device(options: { userAgent: string; width: number; height: number; mobile: boolean; ip: string }): Promise<Page> {
  // Launched by the first test, so that a missing Chromium fails each test (with the reason)
  // instead of leaving them reported as skipped.
  browser ??= await launchChromium();
  const context = await browser.newContext({
    userAgent: options.userAgent,
    viewport: { width: options.width, height: options.height },
    deviceScaleFactor: 2,
    isMobile: options.mobile,
    hasTouch: options.mobile,
    extraHTTPHeaders: { "X-Forwarded-For": options.ip },
  });
  contexts.push(context);
  const page = await context.newPage();
  // Nothing may load from elsewhere: fail the test on any request that is not to the demo.
  await page.route("**/*", (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
  return page;
}

const iphone = () => device({ userAgent: UA.iphoneSafari, width: 390, height: 844, mobile: true, ip: "198.51.100.23" });
const windows = () => device({ userAgent: UA.windowsChrome, width: 1280, height: 800, mobile: false, ip: "203.0.113.7" });
const mac = () => device({ userAgent: UA.macSafari, width: 1440, height: 900, mobile: false, ip: "192.0.2.44" });

async function signIn(page: Page, user: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel("User name").fill(user);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await expect.poll(() => page.locator("#user").textContent()).toBe(user);
}

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

/** No horizontal scrolling: the page is no wider than the screen. */
async function overflow(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  // A string: runs in the page, whose DOM types this Node project does not compile against.
  return page.evaluate<{ scrollWidth: number; clientWidth: number }>(
    "({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth })",
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  if (process.env["UPDATE_SCREENSHOTS"] === "1") {
    mkdirSync(README_SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(README_SCREENSHOTS, name), fullPage: true });
  }
}

describe("account page in Chromium", () => {
  // Generous "did not hang" bounds: three browsers on a shared two-core machine.
  it("labels both devices, signs the phone out from the desktop with confirmation, and tells the phone why", { timeout: 90_000 }, async () => {
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
    expect(fromPhone[1]?.facts).toMatch(/Active (just now|\d+ seconds? ago)/);
    const fromDesktop = await deviceRows(desktop);
    expect(fromDesktop.map((r) => [r.label, r.current])).toEqual([
      ["Chrome on Windows", true],
      ["Safari on iPhone", false],
      ["Safari on macOS", false],
    ]);
    // The exact time is there on hover.
    const seen = desktop.locator("#sessions > li").nth(1).locator(".seen time");
    expect(await seen.getAttribute("title")).toMatch(/^\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC$/);
    expect(await seen.getAttribute("datetime")).toMatch(/^\d{4}-\d{2}-\d{2}T/);
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
    await screenshot(phone, "account-phone.png");

    // Desktop signs the phone out: a first click only asks.
    const phoneRow = desktop.locator("#sessions > li", { hasText: "Safari on iPhone" });
    await phoneRow.locator("summary", { hasText: "Sign out" }).click();
    const confirm = phoneRow.getByRole("button", { name: "Sign out" });
    await expect.poll(() => confirm.isVisible()).toBe(true);
    expect(await phoneRow.locator(".confirm-box p").textContent()).toBe("Sign out Safari on iPhone? It will need to sign in again.");
    await screenshot(desktop, "account-desktop.png");
    expect((await deviceRows(desktop)).map((r) => r.label)).toContain("Safari on iPhone");
    await confirm.click();
    await desktop.waitForURL(`${base}/account?notice=revoked`);
    expect((await deviceRows(desktop)).map((r) => r.label)).toEqual(["Chrome on Windows", "Safari on macOS"]);

    // The phone's next request: signed out, and told why.
    await phone.reload();
    expect(await phone.locator("#notice").textContent()).toBe("You were signed out from another device.");
    expect(await phone.locator("form#sign-in").isVisible()).toBe(true);
    width = await overflow(phone);
    expect(width.scrollWidth).toBeLessThanOrEqual(width.clientWidth);
    await screenshot(phone, "signed-out-phone.png");
    // Once only.
    await phone.reload();
    expect(await phone.locator("#notice").count()).toBe(0);
  });

  it("signs out all other devices after confirmation, and each of them hears of it", { timeout: 90_000 }, async () => {
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
    await desktop.locator("#revoke-others").getByRole("button", { name: "Sign out all other devices" }).click();
    await desktop.waitForURL(`${base}/account?notice=revoked-others`);
    expect(await desktop.locator("#notice").textContent()).toBe("Every other device has been signed out.");
    expect(await deviceRows(desktop)).toEqual([expect.objectContaining({ label: "Chrome on Windows", current: true })]);
    expect(await desktop.locator("#revoke-others").count()).toBe(0);

    for (const page of [phone, laptop]) {
      await page.reload();
      expect(await page.locator("#notice").textContent()).toBe("You were signed out from another device.");
    }

    // Signing yourself out is not news.
    await desktop.getByRole("button", { name: "Sign out of this device" }).click();
    await desktop.waitForURL(`${base}/`);
    expect(await desktop.locator("form#sign-in").isVisible()).toBe(true);
    expect(await desktop.locator("#notice").count()).toBe(0);
  });
});

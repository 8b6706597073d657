/**
 * The demo app on a real HTTP server for one browser test file, and Debian's Chromium to look
 * at it: `RelsSession` configured on the suite's Redis under a fresh namespace before the
 * file's tests; the browser, its contexts, the server and the namespace's keys gone after them.
 * Screenshots go to test-results/screenshots/ on every run; with UPDATE_SCREENSHOTS=1 they
 * also replace the ones the README shows (docs/screenshots/).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser, BrowserContext, BrowserContextOptions, Page } from "playwright-core";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { createDemoApp, type DemoOptions } from "../../demo/app.js";
import { RelsSession } from "../../src/index.js";
import { deleteNamespace } from "../support/cleanup.js";
import { launchChromium } from "./chromium.js";

const ARTIFACTS = join("test-results", "screenshots");
const README_SCREENSHOTS = join("docs", "screenshots");

export interface DemoInBrowser {
  /** `http://127.0.0.1:<port>`, once the file's beforeAll has run. */
  readonly base: string;
  /**
   * A browser context (its own cookies) whose pages may load nothing but the demo: any other
   * request is aborted. Chromium is launched by the first call, so a missing browser fails
   * each test with the reason instead of leaving them reported as skipped.
   */
  newPage(options: BrowserContextOptions): Promise<Page>;
  /** Sign in as `user` through the form, and wait for the account page. */
  signIn(page: Page, user: string): Promise<void>;
}

export function demoInBrowserForThisFile(options: DemoOptions = {}): DemoInBrowser {
  const url = inject("redisUrl");
  const namespace = `t-browser-${randomUUID()}`;
  let browser: Browser | undefined;
  let server: Server | undefined;
  let base: string | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    RelsSession.configure({ applicationName: "Turtle", redisOptions: { url, namespace } });
    const listening = createServer(createDemoApp(options));
    server = listening;
    await new Promise<void>((resolve, reject) => {
      listening.once("error", reject);
      listening.listen(0, "127.0.0.1", () => resolve());
    });
    base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    if (server?.listening) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
    await RelsSession.close();
    await deleteNamespace(url, namespace);
  });

  return {
    get base() {
      if (base === undefined)
        throw new Error("demoInBrowserForThisFile: the server starts in the file's beforeAll");
      return base;
    },
    async newPage(contextOptions) {
      browser ??= await launchChromium();
      const context = await browser.newContext(contextOptions);
      contexts.push(context);
      const page = await context.newPage();
      const origin = this.base;
      await page.route("**/*", (route) =>
        route.request().url().startsWith(origin) ? route.continue() : route.abort(),
      );
      return page;
    },
    async signIn(page, user) {
      await page.goto(`${this.base}/`);
      await page.getByLabel("User name").fill(user);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${this.base}/`);
      await expect.poll(() => page.locator("#user").textContent()).toBe(user);
    },
  };
}

/** The whole page, to test-results/screenshots/ (and docs/screenshots/ with UPDATE_SCREENSHOTS=1). */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  if (process.env["UPDATE_SCREENSHOTS"] === "1") {
    mkdirSync(README_SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(README_SCREENSHOTS, name), fullPage: true });
  }
}

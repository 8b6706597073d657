/**
 * Debian's Chromium, driven by playwright-core: the browser the account-page tests run in.
 * Playwright's own browser download is not used (CI cannot reach it); `.ci/run` installs
 * the `chromium` package when it is missing, and without it the tests fail, never skip.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/**
 * Where Debian's `chromium` package puts the browser; `CHROMIUM_PATH` names another
 * Chromium-based binary (say, a CI image's Chrome) without touching the tests.
 */
export const CHROMIUM_PATH = process.env["CHROMIUM_PATH"]?.trim() || "/usr/bin/chromium";

/**
 * Flags for a quiet, local-only browser: no GPU or sandbox (containers), no QUIC, and none
 * of Chromium's own calls home, so the only connections are to the test's server.
 */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
] as const;

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the browser tests need Debian's chromium package ` +
        "(apt-get update && apt-get install -y chromium; .ci/run does this when it is missing), " +
        "or set CHROMIUM_PATH to a Chromium or Chrome binary",
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS] });
}

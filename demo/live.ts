/**
 * The account page's live panel: a Server-Sent Events stream (`GET /live`) that ticks the
 * server's clock and the user's device count, and is closed by `closeOnRevoke` the moment
 * this session is revoked, from this device, another one, or another process (the CLI).
 * The page's script then says so; it never reconnects a revoked stream.
 */
import { createHash } from "node:crypto";
import type { Request, Response } from "express";
import { SessionsManager } from "../src/index.js";

/** How often the panel ticks: a round trip to Redis per open page each time (the device count). */
const TICK_MS = 2000;

/** `GET /live`: the panel's stream, for a signed-in session only. */
export async function liveRoute(req: Request, res: Response): Promise<void> {
  const userId = req.session.userId;
  if (userId === undefined) {
    res.status(401).end();
    return;
  }
  res.writeHead(200, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
  });
  const tick = async () => {
    const devices = (await SessionsManager.activeSessionsPage(userId, { limit: 100 })).sessions.length;
    if (!res.writableEnded)
      res.write(`event: tick\ndata: ${JSON.stringify({ now: Date.now(), devices })}\n\n`);
  };
  const timer = setInterval(() => void tick().catch(() => undefined), TICK_MS);
  res.once("close", () => clearInterval(timer));
  // Ends the stream with a last `event: revoked` when this session is revoked, by anyone.
  SessionsManager.closeOnRevoke(req, res);
  await tick().catch(() => undefined);
}

/** The panel, filled by {@link LIVE_PANEL_SCRIPT}; without script it says nothing is live. */
export function livePanel(): string {
  return `<section class="live" id="live" data-state="off" aria-live="polite" aria-label="Live status">
    <span class="dot" aria-hidden="true"></span>
    <span data-live="state">Live updates need JavaScript.</span>
    <span data-live="clock"></span>
    <span data-live="devices"></span>
  </section>
  <script>${LIVE_PANEL_SCRIPT}</script>`;
}

/**
 * Opens `/live` and keeps the panel's text current; on `event: revoked` it closes the stream
 * and says this device was signed out. It writes only text (`textContent`) and attributes of
 * its own, from the server's JSON; allowed by its hash alone (html.ts's CSP).
 */
export const LIVE_PANEL_SCRIPT = `
  (() => {
    const panel = document.getElementById("live");
    if (!panel || !("EventSource" in window)) return;
    const part = (name) => panel.querySelector('[data-live="' + name + '"]');
    const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
    const show = (state, text) => { panel.dataset.state = state; part("state").textContent = text; };
    show("connecting", "Connecting…");
    const source = new EventSource("/live");
    source.addEventListener("tick", (event) => {
      const tick = JSON.parse(event.data);
      show("open", "Live");
      part("clock").textContent = clock.format(new Date(tick.now));
      part("devices").textContent = tick.devices === 1 ? "1 device" : tick.devices + " devices";
    });
    source.addEventListener("revoked", () => {
      source.close();
      part("clock").textContent = "";
      part("devices").textContent = "";
      show("revoked", "This device was signed out. Reload the page to sign in again.");
    });
    source.addEventListener("error", () => {
      if (panel.dataset.state !== "revoked") show("reconnecting", "Reconnecting…");
    });
  })();
`;

/** The CSP's source for the panel's script. */
export const LIVE_PANEL_SCRIPT_SOURCE = `'sha256-${createHash("sha256").update(LIVE_PANEL_SCRIPT).digest("base64")}'`;

/** The panel's look (appended to the page's stylesheet). */
export const LIVE_PANEL_STYLE = `
    .live { display: flex; flex-wrap: wrap; gap: .25rem .75rem; align-items: center; border: 1px solid #d0d7de; border-radius: 8px; padding: .5rem .75rem; margin: 1rem 0; font-size: .9rem; }
    .live .dot { width: .6rem; height: .6rem; border-radius: 50%; background: #8c959f; }
    .live[data-state="open"] .dot { background: #1a7f37; }
    .live[data-state="revoked"] { background: #fff8c5; border-color: #d4a72c66; }
    .live[data-state="revoked"] .dot { background: #cf222e; }
    .live [data-live="clock"], .live [data-live="devices"] { color: #57606a; font-variant-numeric: tabular-nums; }`;

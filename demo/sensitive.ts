/**
 * The demo's sensitive action: "Download your data" needs a fresh session ("sudo mode"). A
 * session that signed in (or confirmed it was you) longer ago than `freshMaxAgeMs` is sent
 * to a page that asks again, as GitHub asks for the password before a sensitive change;
 * confirming marks the session fresh (`SessionsManager.markFresh`) and goes on.
 *
 * Lifetime profiles: the demo's (`DEMO_LIFETIMES`, given to `RelsSession.configure` in
 * server.ts): a browser session ends a day after sign-in, "Remember me" after 30 days,
 * whatever the activity. The account page shows when each session expires.
 */
import type express from "express";
import type { Request, Response } from "express";
import { SessionsManager, describeSession, type LifetimesOptions } from "../src/index.js";
import { escapeHtml, layout, timeTag } from "./html.js";

/** How recently the session must have authenticated to download the data: 5 minutes. */
export const DEMO_FRESH_MAX_AGE_MS = 5 * 60_000;

/** The demo's lifetime profiles (server.ts passes them to `RelsSession.configure`). */
export const DEMO_LIFETIMES = {
  profiles: {
    /** A day from sign-in at most, two hours idle. */
    browser: { absoluteMs: 86_400_000, idleMs: 2 * 3_600_000 },
    /** "Remember me": 30 days from sign-in at most, 14 days idle. */
    rememberMe: { absoluteMs: 30 * 86_400_000, idleMs: 14 * 86_400_000 },
  },
  default: "browser",
} as const satisfies LifetimesOptions;

/** The routes of the sensitive action: `GET /account/data`, `GET` and `POST /confirm`. */
export function sensitiveRoutes(app: express.Express, options: { freshMaxAgeMs: number }): void {
  const requireFresh = SessionsManager.requireFreshSession<Request, Response>({
    maxAgeMs: options.freshMaxAgeMs,
    // Not fresh: ask again, then come back here.
    onStale: (req, res) => res.redirect(303, req.session.userId === undefined ? "/" : "/confirm"),
  });

  app.get("/account/data", requireFresh, async (req, res) => {
    const userId = req.session.userId!;
    const sessions = await SessionsManager.activeSessions(userId, { current: req });
    const freshness = SessionsManager.freshness(req, { maxAgeMs: options.freshMaxAgeMs });
    const data = {
      userId,
      devices: sessions.map((s) => ({
        device: describeSession(s),
        signedInAt: s.signInAt.toISOString(),
        expiresAt: (s.absoluteExpiresAt ?? s.expiresAt).toISOString(),
      })),
    };
    sendHtml(
      res,
      layout(
        "Your data",
        `<p class="lead" id="confirmed">You confirmed it was you ${timeTag(freshness.authenticatedAt!, "datetime")} (${escapeHtml(freshness.authMethod ?? "")}).</p>
  <pre class="data" id="data">${escapeHtml(JSON.stringify(data, null, 2))}</pre>
  <p><a href="/account">Back to your devices</a></p>`,
      ),
    );
  });

  app.get("/confirm", (req, res) => {
    if (req.session.userId === undefined) return res.redirect(303, "/");
    sendHtml(res, confirmPage(req.session.userId));
  });

  app.post("/confirm", (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) return res.redirect(303, "/");
    const body = req.body as Record<string, unknown> | undefined;
    // A real app checks the password (or a second factor) here; the demo has none, so it asks
    // for the user name.
    if (body?.username !== userId) {
      sendHtml(res, confirmPage(userId, "That is not your user name."), 400);
      return;
    }
    SessionsManager.markFresh(req, { method: "password" });
    res.redirect(303, "/account/data");
  });
}

function confirmPage(userId: string, error?: string): string {
  return layout(
    "Confirm it is you",
    `<p class="lead">Downloading your data needs a recent sign-in. Confirm it is you, ${escapeHtml(userId)}, to continue.</p>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
  <form method="post" action="/confirm" id="confirm" class="sign-in">
    <label>User name (a real app asks for your password) <input name="username" autocomplete="username" required autofocus></label>
    <button type="submit" class="primary">Confirm</button>
  </form>
  <p><a href="/account">Cancel</a></p>`,
  );
}

function sendHtml(res: Response, html: string, status = 200): void {
  res.status(status).set("Cache-Control", "no-store").type("html").send(html);
}

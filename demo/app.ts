/**
 * "Turtle", a tiny app that shows rels-session the way an application uses it: sign in by
 * name (no passwords, it is a demo), see every device you are signed in on, sign one out.
 *
 * Only the public API ("../src/index.js", i.e. `rels-session`) is used, and
 * `RelsSession.configure()` must have been called before `createDemoApp()`: see server.ts.
 */
import { randomBytes } from "node:crypto";
import express from "express";
import type { NextFunction, Request, Response } from "express";
import session from "express-session";
import { RelsSession, SessionsManager } from "../src/index.js";
import type { ActiveSession, ClientPlatform } from "../src/index.js";
import { metricsRoute } from "./metrics.js";

declare module "express-session" {
  interface SessionData {
    userId?: string;
  }
}

/** The session cookie's name. */
export const COOKIE_NAME = "turtle.sid";
/** How long a sign-in lasts. */
const SIGN_IN_LIFETIME_MS = 14 * 86_400_000;
/** Longest user name accepted. */
const MAX_USERNAME_LENGTH = 64;

let randomSecret: string | undefined;

/** SESSION_SECRET, else one random secret per process (so sessions end with it). */
function sessionSecret(): string {
  const fromEnv = process.env.SESSION_SECRET?.trim();
  if (fromEnv) return fromEnv;
  if (randomSecret === undefined) {
    randomSecret = randomBytes(32).toString("base64url");
    console.warn("[demo] SESSION_SECRET is not set: using a random secret, so sessions will not survive a restart.");
  }
  return randomSecret;
}

export function createDemoApp(): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // req.ip (recorded with each session) honours X-Forwarded-For only from a proxy on this machine.
  app.set("trust proxy", "loopback");

  app.use(securityHeaders);
  // Prometheus text (demo/metrics.ts). Before the session middleware: it needs no session,
  // and must answer while Redis is down (the breaker gauge says so).
  app.get("/metrics", metricsRoute());
  app.use(express.urlencoded({ extended: false, limit: "4kb" }));
  app.use(
    session({
      store: RelsSession.store(),
      secret: sessionSecret(),
      resave: false,
      saveUninitialized: false,
      name: COOKIE_NAME,
      cookie: { httpOnly: true, sameSite: "lax" },
    }),
  );
  // While Redis is down express-session leaves req.session unset: answer 503 + Retry-After.
  app.use(RelsSession.requireSession());
  // Keeps each signed-in session's metadata (IP, user agent, last seen) fresh.
  app.use(SessionsManager.trackSessions({ getUser: (req) => req.session.userId }));

  app.get("/", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      sendHtml(res, 200, signInPage());
      return;
    }
    sendHtml(res, 200, await accountPage(req, userId));
  });

  app.get("/account", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      res.redirect(303, "/");
      return;
    }
    sendHtml(res, 200, await accountPage(req, userId));
  });

  app.post("/login", async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    const username = typeof body?.username === "string" ? body.username.trim() : "";
    if (username === "" || [...username].length > MAX_USERNAME_LENGTH) {
      sendHtml(res, 400, signInPage(`Enter a user name of 1 to ${MAX_USERNAME_LENGTH} characters.`));
      return;
    }
    // A new session id at sign-in: a session id known before it (fixation) is worth nothing.
    await regenerate(req);
    req.session.userId = username;
    await SessionsManager.recordAuthenticatedRequest(username, req, {
      sessionKeyType: "cookie",
      expiresAfter: SIGN_IN_LIFETIME_MS,
      signInAt: new Date(),
    });
    res.redirect(303, "/");
  });

  app.post("/sessions/revoke-others", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      res.redirect(303, "/");
      return;
    }
    const ended = await SessionsManager.logoutOtherSessions(userId, req);
    res.redirect(303, `/account?notice=${ended > 0 ? "revoked-others" : "nothing-to-revoke"}`);
  });

  app.post("/sessions/:id/revoke", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      res.redirect(303, "/");
      return;
    }
    const handle = String(req.params.id);
    const target = (await SessionsManager.activeSessions(userId, { current: req })).find((s) => s.sessionId === handle);
    if (!target) {
      res.redirect(303, "/account?notice=not-found");
      return;
    }
    if (target.current) {
      // Revoking the device you are using is signing out.
      await destroy(req);
      res.clearCookie(COOKIE_NAME, { path: "/" });
      res.redirect(303, "/");
      return;
    }
    const ended = await SessionsManager.logoutSession(userId, handle);
    res.redirect(303, `/account?notice=${ended ? "revoked" : "not-found"}`);
  });

  app.post("/logout", async (req, res) => {
    await destroy(req);
    res.clearCookie(COOKIE_NAME, { path: "/" });
    res.redirect(303, "/");
  });

  app.get("/stats", async (_req, res) => {
    res.set("Cache-Control", "no-store");
    res.json(await RelsSession.stats.totals());
  });

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    console.error("[demo]", err);
    if (res.headersSent) {
      next(err);
      return;
    }
    res.status(500).type("text/plain").send("Something went wrong; see the server log.");
  });

  return app;
}

// -------------------------------------------------------------------------------------------
// Pages
// -------------------------------------------------------------------------------------------

const NOTICES: Readonly<Record<string, string>> = {
  revoked: "That session has been signed out. Its next request will land on the sign-in form.",
  "revoked-others": "Every other session has been signed out.",
  "nothing-to-revoke": "There was no other session to sign out.",
  "not-found": "That session no longer exists (it may have expired or been signed out already).",
};

const PLATFORM_LABELS: Readonly<Record<ClientPlatform, string>> = {
  ios_app: "iOS app",
  android_app: "Android app",
  mobile_web: "Mobile browser",
  web: "Web browser",
};

function signInPage(error?: string): string {
  return layout(
    "Sign in",
    `${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
    <form method="post" action="/login" id="sign-in">
      <label>User name <input name="username" autocomplete="username" required maxlength="${MAX_USERNAME_LENGTH}" autofocus></label>
      <button type="submit">Sign in</button>
    </form>
    <p class="hint">No password: this is a demo. Sign in with the same name from a second browser to see both sessions.</p>`,
  );
}

async function accountPage(req: Request, userId: string): Promise<string> {
  const sessions = await SessionsManager.activeSessions(userId, { current: req });
  const noticeKey = typeof req.query.notice === "string" ? req.query.notice : undefined;
  const notice = noticeKey === undefined ? undefined : NOTICES[noticeKey];
  const others = sessions.filter((s) => !s.current).length;
  return layout(
    "Your sessions",
    `<p>Signed in as <strong id="user">${escapeHtml(userId)}</strong>.</p>
    ${notice ? `<p class="notice" role="status">${escapeHtml(notice)}</p>` : ""}
    <table id="sessions">
      <thead><tr>
        <th>Platform</th><th>App</th><th>IP</th><th>User agent</th>
        <th>Signed in</th><th>Last seen</th><th>Expires</th><th></th>
      </tr></thead>
      <tbody>
${sessions.map(sessionRow).join("\n")}
      </tbody>
    </table>
    <div class="actions">
      ${
        others > 0
          ? `<form method="post" action="/sessions/revoke-others"><button type="submit">Sign out all other sessions (${others})</button></form>`
          : ""
      }
      <form method="post" action="/logout"><button type="submit">Sign out</button></form>
    </div>
    <p class="hint"><a href="/stats">Live session counts (JSON)</a></p>`,
  );
}

function sessionRow(s: ActiveSession): string {
  const app = [s.applicationName || "unknown", s.appVersion].filter(Boolean).join(" ");
  const platform = [PLATFORM_LABELS[s.clientPlatform], s.device].filter(Boolean).join(", ");
  const action = s.current
    ? `<strong class="this-device">This device</strong>`
    : `<form method="post" action="/sessions/${encodeURIComponent(s.sessionId)}/revoke"><button type="submit">Sign out</button></form>`;
  return `        <tr data-session-id="${escapeHtml(s.sessionId)}" data-platform="${escapeHtml(s.clientPlatform)}" data-current="${s.current}"${s.current ? ' class="current"' : ""}>
          <td>${escapeHtml(platform)}</td>
          <td>${escapeHtml(app)}</td>
          <td>${escapeHtml(s.ip ?? "unknown")}</td>
          <td class="ua">${escapeHtml(s.userAgent ?? "none sent")}</td>
          <td>${time(s.signInAt)}</td>
          <td>${time(s.lastSeenAt)}</td>
          <td>${time(s.expiresAt)}</td>
          <td>${action}</td>
        </tr>`;
}

function time(date: Date): string {
  const iso = date.toISOString();
  return `<time datetime="${iso}">${iso.slice(0, 16).replace("T", " ")} UTC</time>`;
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)} · Turtle demo</title>
  <style>
    body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
    table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
    th, td { border-bottom: 1px solid #ddd; padding: .4rem .5rem; text-align: left; vertical-align: top; }
    tr.current { background: #f1f8ee; }
    td.ua { font-size: 12px; word-break: break-all; max-width: 24rem; }
    .actions { display: flex; gap: .75rem; }
    .notice { background: #eef4fb; padding: .5rem .75rem; }
    .error { color: #a00; }
    .hint { color: #666; }
  </style>
</head>
<body>
  <h1>🐢 ${escapeHtml(title)}</h1>
  ${body}
</body>
</html>
`;
}

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text → HTML text or attribute value (quoted). User names and user agents come from the client. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

function sendHtml(res: Response, status: number, html: string): void {
  res.status(status).set("Cache-Control", "no-store").type("html").send(html);
}

/** Defence in depth should an escape ever be missed: no script runs, no form posts elsewhere. */
function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  next();
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())));
}

function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));
}

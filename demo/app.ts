/**
 * "Turtle", a tiny app that shows rels-session the way an application uses it: sign in by
 * name (no passwords, it is a demo), see every device you are signed in on, sign one out.
 *
 * Only the public API ("../src/index.js", i.e. `rels-session`) is used (pages.ts renders,
 * html.ts holds the escaping and the stylesheet), and
 * `RelsSession.configure()` must have been called before `createDemoApp()`: see server.ts.
 */
import { randomBytes } from "node:crypto";
import express from "express";
import type { NextFunction, Request, Response } from "express";
import session from "express-session";
import { describeSession, RelsSession, SessionsManager } from "../src/index.js";
import { metricsRoute } from "./metrics.js";
import { liveRoute } from "./live.js";
import { CONTENT_SECURITY_POLICY } from "./html.js";
import { placesOf, type Locate } from "./location.js";
import { accountPage, MAX_USERNAME_LENGTH, signInPage, type Notice } from "./pages.js";
import { DEMO_FRESH_MAX_AGE_MS, sensitiveRoutes } from "./sensitive.js";

declare module "express-session" {
  interface SessionData {
    userId?: string;
    /** What the next account page says, once: set before a redirect, removed when shown. */
    notice?: Notice;
  }
}

/** What an app built by {@link createDemoApp} may be given. */
export interface DemoOptions {
  /**
   * IP address → approximate place ("Lisbon, Portugal") shown on each device's row.
   * Optional; nothing is looked up without it (demo/location.ts, README "Approximate location").
   */
  locate?: Locate;
  /**
   * How recently a session must have signed in (or confirmed it is you) to download its
   * data (demo/sensitive.ts). @default DEMO_FRESH_MAX_AGE_MS (5 minutes)
   */
  freshMaxAgeMs?: number;
}

/** The session cookie's name. */
export const COOKIE_NAME = "turtle.sid";
/**
 * "This browser was signed in": set at sign-in, cleared when this browser signs itself out.
 * A request that carries it but no signed-in session was signed out from elsewhere, so the
 * sign-in page says so, once. Its value is a constant: it identifies neither the user nor
 * the session (never the sid), and it expires with the sign-in, so a session that simply
 * ran out does not claim to have been signed out by someone.
 */
export const SIGNED_IN_FLAG = "turtle.signed-in";
/** How long a sign-in lasts without lifetime profiles (`sessions.lifetimes`: theirs, with them). */
const SIGN_IN_LIFETIME_MS = 14 * 86_400_000;

let randomSecret: string | undefined;

/** SESSION_SECRET, else one random secret per process (so sessions end with it). */
function sessionSecret(): string {
  const fromEnv = process.env.SESSION_SECRET?.trim();
  if (fromEnv) return fromEnv;
  if (randomSecret === undefined) {
    randomSecret = randomBytes(32).toString("base64url");
    console.warn(
      "[demo] SESSION_SECRET is not set: using a random secret, so sessions will not survive a restart.",
    );
  }
  return randomSecret;
}

export function createDemoApp(options: DemoOptions = {}): express.Express {
  const app = express();
  // With lifetime profiles (server.ts gives DEMO_LIFETIMES) the sign-in offers "Remember me".
  const lifetimes = RelsSession.config.sessions.lifetimes !== undefined;
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
  // Where a real app would mail "New sign-in to your account". The label and the handle,
  // never the cookie's sid, are what may appear in a log.
  SessionsManager.onSignIn(({ session, isNewDevice }) => {
    if (isNewDevice)
      console.log(
        `[demo] sign-in from a new device: ${describeSession(session)} (session ${session.sessionId})`,
      );
  });
  // While Redis is down express-session leaves req.session unset: answer 503 + Retry-After.
  app.use(RelsSession.requireSession());
  // Keeps each signed-in session's metadata (IP, user agent, last seen) fresh.
  app.use(SessionsManager.trackSessions({ getUser: (req) => req.session.userId }));

  app.get("/", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      sendHtml(
        res,
        200,
        signInPage({
          rememberMe: lifetimes,
          ...(signedOutElsewhere(req, res) ? { notice: { key: "signed-out-elsewhere" } } : {}),
        }),
      );
      return;
    }
    sendHtml(res, 200, await account(req, userId, options.locate));
  });

  app.get("/account", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      res.redirect(303, "/");
      return;
    }
    sendHtml(res, 200, await account(req, userId, options.locate));
  });

  // The account page's live panel (demo/live.ts): closed the moment this session is revoked.
  app.get("/live", liveRoute);

  app.post("/login", async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    const username = typeof body?.username === "string" ? body.username.trim() : "";
    if (username === "" || [...username].length > MAX_USERNAME_LENGTH) {
      sendHtml(
        res,
        400,
        signInPage({
          rememberMe: lifetimes,
          error: `Enter a user name of 1 to ${MAX_USERNAME_LENGTH} characters.`,
        }),
      );
      return;
    }
    // A new session id at sign-in: a session id known before it (fixation) is worth nothing.
    await regenerate(req);
    req.session.userId = username;
    const signedIn = await SessionsManager.recordAuthenticatedRequest(username, req, {
      sessionKeyType: "cookie",
      signInAt: new Date(),
      // A lifetime profile sets both the absolute lifetime and the idle timeout.
      ...(lifetimes
        ? { lifetime: body?.rememberMe === "on" ? "rememberMe" : "browser" }
        : { expiresAfter: SIGN_IN_LIFETIME_MS }),
    });
    const endsAt = signedIn.absoluteExpiresAt?.getTime();
    res.cookie(SIGNED_IN_FLAG, "1", {
      httpOnly: true,
      sameSite: "lax",
      path: "/",
      maxAge: endsAt === undefined ? SIGN_IN_LIFETIME_MS : endsAt - Date.now(),
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
    showOnce(req, res, ended > 0 ? { key: "revoked-others", count: ended } : { key: "nothing-to-revoke" });
  });

  app.post("/sessions/:id/revoke", async (req, res) => {
    const userId = req.session.userId;
    if (userId === undefined) {
      res.redirect(303, "/");
      return;
    }
    const handle = String(req.params.id);
    const target = (await SessionsManager.activeSessions(userId, { current: req })).find(
      (s) => s.sessionId === handle,
    );
    if (!target) {
      showOnce(req, res, { key: "not-found" });
      return;
    }
    if (target.current) {
      // Revoking the device you are using is signing out.
      await signOut(req, res);
      return;
    }
    const ended = await SessionsManager.logoutSession(userId, handle);
    showOnce(req, res, ended ? { key: "revoked", device: describeSession(target) } : { key: "not-found" });
  });

  app.post("/logout", async (req, res) => {
    await signOut(req, res);
  });

  sensitiveRoutes(app, { freshMaxAgeMs: options.freshMaxAgeMs ?? DEMO_FRESH_MAX_AGE_MS });

  app.get("/stats", async (_req, res) => {
    res.set("Cache-Control", "no-store");
    res.json(await RelsSession.stats.totals());
  });

  // A Redis error thrown in a route (Redis went away mid-request) answers 503 + Retry-After.
  app.use(RelsSession.redisErrorHandler());
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
// Helpers
// -------------------------------------------------------------------------------------------

async function account(req: Request, userId: string, locate: Locate | undefined): Promise<string> {
  const sessions = await SessionsManager.activeSessions(userId, { current: req });
  const places = await placesOf(
    sessions.map((s) => s.ip),
    locate,
  );
  // Shown once: removed from the session now (express-session saves it with this response),
  // so a reload, the back button or a bookmark shows the page without it.
  const notice = req.session.notice;
  delete req.session.notice;
  return accountPage({ userId, sessions, notice, now: new Date(), places });
}

/**
 * After a POST: back to the account page, which says `notice` once. A one-time message in
 * the session rather than `?notice=` in the URL: no script needed to drop it from the
 * address bar, and no link can make the page say something that did not happen.
 */
function showOnce(req: Request, res: Response, notice: Notice): void {
  req.session.notice = notice;
  res.redirect(303, "/account");
}

/**
 * A signed-out request that still carries the signed-in flag: its session ended without
 * this browser signing out. Clears the flag, so the notice shows once.
 */
function signedOutElsewhere(req: Request, res: Response): boolean {
  if (!hasCookie(req, SIGNED_IN_FLAG)) return false;
  res.clearCookie(SIGNED_IN_FLAG, { path: "/" });
  return true;
}

/** This browser signs itself out: the session, its cookie, and the flag (no notice for that). */
async function signOut(req: Request, res: Response): Promise<void> {
  await destroy(req);
  res.clearCookie(COOKIE_NAME, { path: "/" });
  res.clearCookie(SIGNED_IN_FLAG, { path: "/" });
  res.redirect(303, "/");
}

function hasCookie(req: Request, name: string): boolean {
  const header = req.headers.cookie ?? "";
  return header.split(";").some((pair) => pair.trim().split("=", 1)[0] === name);
}

function sendHtml(res: Response, status: number, html: string): void {
  res.status(status).set("Cache-Control", "no-store").type("html").send(html);
}

/** Defence in depth should an escape ever be missed: see CONTENT_SECURITY_POLICY. */
function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  next();
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())),
  );
}

function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.destroy((err: unknown) => (err ? reject(err) : resolve())),
  );
}

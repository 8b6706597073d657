/**
 * express 5 + express-session apps for the integration tests, and the client side of them:
 * the session cookie a response sets, the sid inside it, signing in and asking who is signed in.
 */
import express from "express";
import type { Request } from "express";
import session, { type Store } from "express-session";
import request from "supertest";
import { expect } from "vitest";
import { sha256 } from "./store-contract.js";

/** The session cookie's name in every test app. */
export const SESSION_COOKIE = "sid";
const SECRET = "rels-session-test-secret";

/** What the test apps keep on the session. */
export interface AppSession {
  userId?: string;
  visits?: number;
}

export function appSession(req: Request): AppSession {
  return req.session as unknown as AppSession;
}

export function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())),
  );
}

export function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.destroy((err: unknown) => (err ? reject(err) : resolve())),
  );
}

/**
 * An app with `express.json()` and express-session on `store` (cookie SESSION_COOKIE, saved
 * only once changed, as production apps set it), and no routes yet.
 */
export function sessionApp(store: Store): express.Express {
  const app = express();
  app.use(express.json());
  app.use(session({ store, secret: SECRET, name: SESSION_COOKIE, resave: false, saveUninitialized: false }));
  return app;
}

export interface SignInAppOptions {
  /** Runs once `/login` has signed the user in on the new session (say, the manager's recordAuthenticatedRequest). */
  onLogin?: (userId: string, req: Request) => unknown;
}

/**
 * `sessionApp(store)` with the routes a user signs in and out through:
 * - `POST /login {userId}` regenerates the session (no fixation), signs the user in, runs `onLogin`;
 * - `GET /me` answers `{userId}` (null when signed out) and changes nothing;
 * - `POST /visit` counts `{visits}` on the session, so it changes;
 * - `POST /logout` destroys the session.
 *
 * A test file adds its own routes to what this returns.
 */
export function signInApp(store: Store, options: SignInAppOptions = {}): express.Express {
  const app = sessionApp(store);
  app.post("/login", async (req, res) => {
    const userId = String(req.body.userId);
    await regenerate(req);
    appSession(req).userId = userId;
    await options.onLogin?.(userId, req);
    res.json({ userId });
  });
  app.get("/me", (req, res) => {
    res.json({ userId: appSession(req).userId ?? null });
  });
  app.post("/visit", (req, res) => {
    const visits = (appSession(req).visits ?? 0) + 1;
    appSession(req).visits = visits;
    res.json({ visits });
  });
  app.post("/logout", async (req, res) => {
    await destroy(req);
    res.json({ ok: true });
  });
  return app;
}

/** The `name=value` pair of the session cookie a response set, or undefined. */
export function sessionCookie(res: request.Response): string | undefined {
  const header = res.headers["set-cookie"] as unknown as string[] | undefined;
  const line = header?.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  return line?.split(";")[0];
}

/** The `name=value` pair of the session cookie the response must have set. */
export function expectSessionCookie(res: request.Response): string {
  const cookie = sessionCookie(res);
  expect(cookie, "the response sets the session cookie").toBeDefined();
  return cookie!;
}

/** The unsigned sid inside a session cookie: `sid=s%3A<sid>.<signature>` → `<sid>`. */
export function sidOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(SESSION_COOKIE.length + 1));
  expect(value.startsWith("s:")).toBe(true);
  return value.slice(2, value.lastIndexOf("."));
}

export interface LoggedIn {
  cookie: string;
  sid: string;
  /** The sid's private id: what the store files the session under. */
  hex: string;
}

/** `POST /login` as `userId` (`body` adds fields); the session cookie it set, and the sid inside. */
export async function login(
  app: express.Express,
  userId: string,
  body: Record<string, unknown> = {},
): Promise<LoggedIn> {
  const cookie = expectSessionCookie(
    await request(app)
      .post("/login")
      .send({ ...body, userId })
      .expect(200),
  );
  const sid = sidOf(cookie);
  return { cookie, sid, hex: sha256(sid) };
}

/** `GET /me` with `cookie`: the user its session holds, or null. */
export async function whoAmI(app: express.Express, cookie: string): Promise<string | null> {
  const res = await request(app).get("/me").set("Cookie", cookie).expect(200);
  return (res.body as { userId: string | null }).userId;
}

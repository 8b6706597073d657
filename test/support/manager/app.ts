/**
 * The express app under test: express-session on the store, and routes that sign in, record,
 * list and revoke through a manager, as an application would.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type express from "express";
import type { NextFunction, Request, Response } from "express";
import { TWO_HOURS } from "./devices.js";
import type { RelsRedisStore } from "../../../src/express/store.js";
import type { RelsSessionsManager } from "../../../src/users/manager.js";
import type { RecordOptions } from "../../../src/users/manager-types.js";
import { destroy, regenerate, sessionApp } from "../express-app.js";

const USER_FIELD = "contractUserId";

function userOf(req: Request): string | undefined {
  const value = (req.session as unknown as Record<string, unknown> | undefined)?.[USER_FIELD];
  return typeof value === "string" ? value : undefined;
}

function setUser(req: Request, userId: string): void {
  (req.session as unknown as Record<string, unknown>)[USER_FIELD] = userId;
}

/** The JSON body, else the query string (what `Device.login` sends: see there). */
function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (body !== null && typeof body === "object" && Object.keys(body).length > 0)
    return body as Record<string, unknown>;
  return { ...(req.query as Record<string, unknown>) };
}

function recordOptions(body: Record<string, unknown>): RecordOptions {
  const options: RecordOptions = {};
  if (typeof body.expiresAfter === "number" || typeof body.expiresAfter === "string")
    options.expiresAfter = Number(body.expiresAfter);
  if (typeof body.signInAt === "string") options.signInAt = new Date(body.signInAt);
  if (body.sessionKeyType === "cookie" || body.sessionKeyType === "token")
    options.sessionKeyType = body.sessionKeyType;
  return options;
}

export interface AppOptions {
  /** Mount `manager.trackSessions({ getUser })` after express-session. */
  track?: boolean;
}

export function buildApp(
  store: RelsRedisStore,
  manager: RelsSessionsManager,
  options: AppOptions = {},
): express.Express {
  const app = sessionApp(store);
  // Each device names its own address in X-Forwarded-For; req.ip follows it.
  app.set("trust proxy", true);
  if (options.track) {
    app.use(manager.trackSessions({ getUser: async (req) => userOf(req) ?? null, expiresAfter: TWO_HOURS }));
  }

  const signedIn = (req: Request, res: Response): string | undefined => {
    const userId = userOf(req);
    if (userId === undefined) res.status(401).json({ user: null, sessions: [] });
    return userId;
  };

  app.post("/login", async (req, res) => {
    const body = bodyOf(req);
    const userId = String(body.userId);
    await regenerate(req);
    setUser(req, userId);
    const meta = await manager.recordAuthenticatedRequest(userId, req, recordOptions(body));
    res.json({ sid: req.sessionID, meta });
  });
  /** Records again without signing in anew (what an app does on each authenticated request). */
  app.post("/record", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ meta: await manager.recordAuthenticatedRequest(userId, req, recordOptions(bodyOf(req))) });
  });
  app.get("/account", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    await manager.recordAuthenticatedRequest(userId, req);
    res.json({ user: userId, sessions: await manager.activeSessions(userId, { current: req }) });
  });
  app.post("/sessions/revoke", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ revoked: await manager.logoutSession(userId, String(bodyOf(req).sessionId)) });
  });
  app.post("/sessions/revoke-many", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    const ids = bodyOf(req).sessionIds;
    res.json({ count: await manager.logoutSessions(userId, Array.isArray(ids) ? ids.map(String) : []) });
  });
  app.post("/sessions/revoke-all", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ count: await manager.logoutAllSessions(userId) });
  });
  app.post("/sessions/revoke-others", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ count: await manager.logoutOtherSessions(userId, req) });
  });
  app.post("/logout", async (req, res) => {
    await destroy(req);
    res.json({ ok: true });
  });
  app.post("/regenerate", async (req, res) => {
    await regenerate(req);
    res.json({ ok: true });
  });
  /** An anonymous session: saved (it changed), never recorded. */
  app.post("/visit", (req, res) => {
    const data = req.session as unknown as Record<string, unknown>;
    data.visits = Number(data.visits ?? 0) + 1;
    res.json({ sid: req.sessionID });
  });
  /** Signs in without recording (for the trackSessions middleware to pick up). */
  app.post("/set-user", (req, res) => {
    setUser(req, String(bodyOf(req).userId));
    res.json({ sid: req.sessionID });
  });
  app.get("/ping", (req, res) => {
    res.json({ user: userOf(req) ?? null });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  });
  return app;
}

export async function serve(app: express.Express): Promise<{ base: string; close(): Promise<void> }> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

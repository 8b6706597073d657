/**
 * An express 5 app with rolling sessions (`rolling: true`: every request refreshes the cookie
 * and the store's expiry), signed in through a `RelsSessionsManager` with lifetime profiles
 * and freshness: for the lifetime tests on each topology.
 *
 * - `POST /login {userId, lifetime?, signInAtMs?, authMethod?}` regenerates, signs in, records;
 * - `GET /me` answers `{userId}` (null when signed out);
 * - `POST /regenerate` regenerates the session, keeping the user but recording nothing;
 * - `POST /confirm-password` marks the session fresh (`markFresh`, method "password");
 * - `POST /sensitive` is behind `requireFreshSession({ maxAgeMs: FRESH_MAX_AGE_MS })`;
 * - `POST /sensitive-redirect` the same with an `onStale` that redirects to `/reauthenticate`.
 */
import express from "express";
import session, { type Store } from "express-session";
import type { RelsSessionsManager } from "../../src/users/manager.js";
import { SESSION_COOKIE, appSession, regenerate } from "./express-app.js";

/** How recently a session must have authenticated for `/sensitive`. */
export const FRESH_MAX_AGE_MS = 60_000;
/** The idle timeout of the app's cookie (the profiles' `idleMs` replace it at sign-in). */
export const COOKIE_MAX_AGE_MS = 60_000;

export function lifetimeApp(store: Store, manager: RelsSessionsManager): express.Express {
  const app = express();
  app.use(express.json());
  app.use(
    session({
      store,
      secret: "rels-session-lifetime-secret",
      name: SESSION_COOKIE,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { maxAge: COOKIE_MAX_AGE_MS },
    }),
  );
  app.post("/login", async (req, res, next) => {
    try {
      const { userId, lifetime, signInAtMs, authMethod } = req.body as {
        userId: string;
        lifetime?: string;
        signInAtMs?: number;
        authMethod?: string;
      };
      await regenerate(req);
      appSession(req).userId = userId;
      const meta = await manager.recordAuthenticatedRequest(userId, req, {
        ...(lifetime === undefined ? {} : { lifetime }),
        ...(signInAtMs === undefined ? {} : { signInAt: new Date(signInAtMs) }),
        ...(authMethod === undefined ? {} : { authMethod }),
      });
      res.json({
        userId,
        absoluteExpiresAt: meta.absoluteExpiresAt?.toISOString() ?? null,
        signInAt: meta.signInAt.toISOString(),
      });
    } catch (error) {
      next(error);
    }
  });
  app.get("/me", (req, res) => {
    res.json({ userId: appSession(req).userId ?? null });
  });
  app.post("/regenerate", async (req, res) => {
    const userId = appSession(req).userId;
    await regenerate(req);
    if (userId !== undefined) appSession(req).userId = userId;
    res.json({ userId: userId ?? null });
  });
  app.post("/confirm-password", (req, res) => {
    const meta = manager.markFresh(req, { method: "password" });
    res.json({ authenticatedAt: meta.authenticatedAt?.toISOString() ?? null, authMethod: meta.authMethod });
  });
  app.post("/sensitive", manager.requireFreshSession({ maxAgeMs: FRESH_MAX_AGE_MS }), (req, res) => {
    res.json({ ok: true, freshness: manager.freshness(req, { maxAgeMs: FRESH_MAX_AGE_MS }) });
  });
  app.post(
    "/sensitive-redirect",
    manager.requireFreshSession<express.Request, express.Response>({
      maxAgeMs: FRESH_MAX_AGE_MS,
      onStale: (_req, res) => res.redirect(303, "/reauthenticate"),
    }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: error.name, message: error.message });
  });
  return app;
}

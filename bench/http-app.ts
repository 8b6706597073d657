/**
 * The Express 5 + express-session app every end-to-end contender serves; only the store
 * (and, for rels, session tracking) differs.
 *
 * - `POST /login?user=U` regenerates the session and signs U in; with `&record=1` it also
 *   records the sign-in (`recordAuthenticatedRequest`) where the store supports it;
 * - `GET /me` reads the session and changes nothing (express-session then calls `touch`);
 * - `POST /visit` changes one field (express-session then calls `set`);
 * - `POST /visit-tracked` is `/visit` behind `trackSessions` (rels only; elsewhere plain `/visit`).
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import session, { type Store } from "express-session";
import type { HttpContender } from "./options.js";
import { SESSION_MAX_AGE_MS } from "./fixtures.js";
import { loadRels, openConnectRedisStore, openRelsStore, relsManager } from "./open-stores.js";

interface BenchSession {
  userId?: string;
  visits?: number;
}

const fields = (req: Request) => req.session as unknown as BenchSession;

/** Records a sign-in, and the middleware that records every tracked request. */
interface Tracking {
  recordSignIn(user: string, req: Request): Promise<unknown>;
  track: RequestHandler;
}

export interface BenchApp {
  readonly app: express.Express;
  close(): Promise<void>;
}

async function storeFor(
  contender: HttpContender,
  url: string,
  namespace: string,
  libRoot?: string,
): Promise<{ store: Store; tracking?: Tracking; close(): Promise<void> }> {
  switch (contender) {
    case "memory":
      return { store: new session.MemoryStore(), close: async () => undefined };
    case "connect-redis":
      return openConnectRedisStore(url, namespace, "connect-redis server");
    case "rels": {
      const { store, close } = await openRelsStore(url, namespace, libRoot);
      const manager = relsManager(await loadRels(libRoot), store, "bench");
      const tracking: Tracking = {
        recordSignIn: (user, req) =>
          manager.recordAuthenticatedRequest(user, req, {
            expiresAfter: SESSION_MAX_AGE_MS,
            signInAt: new Date(),
          }),
        track: manager.trackSessions({ getUser: (req) => fields(req).userId ?? null }),
      };
      return { store, tracking, close };
    }
  }
}

/** `libRoot`: for rels, the library root to load (a `--baseline` worktree); this tree's when absent. */
export async function createBenchApp(
  contender: HttpContender,
  url: string,
  namespace: string,
  libRoot?: string,
): Promise<BenchApp> {
  const { store, tracking, close } = await storeFor(contender, url, namespace, libRoot);
  const app = express();
  app.use(
    session({
      store,
      secret: "bench-secret-not-a-secret",
      name: "sid",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: SESSION_MAX_AGE_MS, httpOnly: true },
    }),
  );
  app.post("/login", (req: Request, res: Response, next: NextFunction) => {
    const user = String(req.query.user ?? "");
    if (!user) return void res.status(400).send("user missing");
    req.session.regenerate((error: unknown) => {
      if (error) return next(error);
      fields(req).userId = user;
      if (req.query.record !== "1" || !tracking) return void res.send("ok");
      tracking.recordSignIn(user, req).then(() => res.send("ok"), next);
    });
  });
  app.get("/me", (req: Request, res: Response) => {
    res.send(fields(req).userId ?? "");
  });
  const visit = (req: Request, res: Response) => {
    fields(req).visits = (fields(req).visits ?? 0) + 1;
    res.send("ok");
  };
  app.post("/visit", visit);
  if (tracking) app.post("/visit-tracked", tracking.track, visit);
  else app.post("/visit-tracked", visit);
  return { app, close };
}

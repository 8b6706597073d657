/**
 * Round trips to Redis per operation, for rels on standalone Redis: a child of bench/run.ts
 * that prints its own table. Counted with test/support/round-trips.ts on the one ioredis
 * client the store is given (`new RelsRedisStore({ client })`): commands sent in the same
 * macrotask, before any of them is answered, are one round trip. Request rows go through a
 * real Express app with express-session and `fetch`; the others call the API directly.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import session, { type SessionData } from "express-session";
import { Redis } from "ioredis";
import { z } from "zod";
import { RelsRedisStore } from "../src/index.js";
import { RelsSessionsManager } from "../src/users/manager.js";
import { SessionStats } from "../src/stats/stats.js";
import { countRoundTrips, type RoundTripCounter } from "../test/support/round-trips.js";
import { newSid, newSids, SESSION_MAX_AGE_MS } from "./fixtures.js";
import { BENCH_UA } from "./http-load.js";
import { table } from "./report.js";

const config = z
  .object({ url: z.string(), namespace: z.string() })
  .parse(JSON.parse(process.argv[2] ?? "null"));
/** Sessions of the one user in the activeSessions / logoutAllSessions rows. */
const MANY_SESSIONS = 1000;
const SEED_CHUNK = 200;

async function main(): Promise<void> {
  const client = new Redis(config.url, { lazyConnect: true });
  const touchClient = new Redis(config.url, { lazyConnect: true });
  await Promise.all([client.connect(), touchClient.connect()]);
  const store = new RelsRedisStore({ client, namespace: config.namespace });
  const manager = new RelsSessionsManager({ store, applicationName: "bench" });
  const stats = new SessionStats(store);
  const touchStore = new RelsRedisStore({ client: touchClient, namespace: config.namespace, touchAfter: 0 });
  const app = await startApp(store, manager);
  const touchApp = await startApp(
    touchStore,
    new RelsSessionsManager({ store: touchStore, applicationName: "bench" }),
  );
  try {
    type Row = {
      operation: string;
      report: Measured<unknown>;
      budget: string;
      within: boolean | undefined;
      note?: string;
    };
    const rows: Row[] = [];
    const row = (
      operation: string,
      report: Measured<unknown>,
      budget: string,
      max: number | undefined,
      note?: string,
    ) =>
      rows.push({
        operation,
        report,
        budget,
        within: max === undefined ? undefined : report.trips <= max,
        ...(note ? { note } : {}),
      });

    // Warm every script on every connection first: ioredis sends EVAL the first time a script
    // is used on a socket.
    const warmUser = `warm-${randomBytes(3).toString("hex")}`;
    for (const target of [app, touchApp]) {
      const cookie = await target.login(warmUser);
      await target.request("GET", "/tracked", cookie);
      await target.request("POST", "/write", cookie);
      await target.request("POST", "/logout", cookie);
    }
    await manager.activeSessions(warmUser);
    await stats.totals();
    await manager.logoutAllSessions(warmUser);

    const counter = countRoundTrips(client);
    const touchCounter = countRoundTrips(touchClient);
    const measure = <T>(operation: () => Promise<T>) => measureOn(counter, operation);

    const user = `user-${randomBytes(3).toString("hex")}`;
    const login = await measure(() => app.login(user));
    const cookie = login.value;
    row(
      "sign-in request (regenerate + recordAuthenticatedRequest + save)",
      login,
      "—",
      undefined,
      "regenerate() destroys the new, never-saved id",
    );
    row(
      "request, unchanged session (get + touch within touchAfter)",
      await measure(() => app.request("GET", "/noop", cookie)),
      "1",
      1,
    );
    const tracked = await measure(() => app.request("GET", "/tracked", cookie));
    row(
      "… same, through trackSessions (recordAuthenticatedRequest, nothing changed)",
      tracked,
      "1 (0 extra)",
      1,
    );
    const lastRequest = app.lastRequest;
    if (!lastRequest) throw new Error("the tracked request did not reach its route");
    row(
      "recordAuthenticatedRequest alone, nothing changed",
      await measure(() => manager.recordAuthenticatedRequest(user, lastRequest)),
      "0 extra",
      0,
    );
    row(
      "request that modifies the session (get + set)",
      await measure(() => app.request("POST", "/write", cookie)),
      "2",
      2,
    );
    const touchCookie = await touchApp.login(user);
    row(
      "request, unchanged, touch due (store with touchAfter: 0)",
      await measureOn(touchCounter, () => touchApp.request("GET", "/noop", touchCookie)),
      "1 (throttled or folded)",
      undefined,
      "informative: how often this happens is set by touchAfter",
    );

    const doomedSid = newSid();
    await store.set(doomedSid, await recordFor(manager, user, doomedSid));
    row("store.destroy(sid), signed-in session", await measure(() => store.destroy(doomedSid)), "1", 1);

    const heavyUser = `heavy-${randomBytes(3).toString("hex")}`;
    const heavySids = newSids(MANY_SESSIONS);
    for (let i = 0; i < heavySids.length; i += SEED_CHUNK) {
      await Promise.all(
        heavySids
          .slice(i, i + SEED_CHUNK)
          .map(async (sid) => store.set(sid, await recordFor(manager, heavyUser, sid))),
      );
    }
    const listed = await measure(() => manager.activeSessions(heavyUser));
    row(`activeSessions(user), ${MANY_SESSIONS} sessions`, listed, "2", 2, `listed ${listed.value.length}`);
    const totals = await measure(() => stats.totals());
    row(`new SessionStats(store).totals(), ${totals.value.totalSessions} sessions`, totals, "1", 1);
    const loggedOut = await measure(() => manager.logoutAllSessions(heavyUser));
    row(
      `logoutAllSessions(user), ${MANY_SESSIONS} sessions`,
      loggedOut,
      "≤ 2",
      2,
      `revoked ${loggedOut.value}`,
    );
    counter.restore();
    touchCounter.restore();

    console.log(
      table(
        ["operation", "trips", "cmds", "budget", "ok", "commands sent, in order"],
        rows.map((r) => [
          r.operation,
          String(r.report.trips),
          String(r.report.commands.length),
          r.budget,
          r.within === undefined ? "" : r.within ? "yes" : "NO",
          summarise(r.report.commands) + (r.note ? `   [${r.note}]` : ""),
        ]),
        [0, 3, 4, 5],
      ),
    );
  } finally {
    await app.close();
    await touchApp.close();
    await Promise.all([client.quit(), touchClient.quit()]);
  }
}

interface Measured<T> {
  readonly trips: number;
  readonly commands: readonly string[];
  readonly value: T;
}

/** Round trips and commands of one operation on one counted client. */
async function measureOn<T>(counter: RoundTripCounter, operation: () => Promise<T>): Promise<Measured<T>> {
  counter.reset();
  const value = await operation();
  // A fire-and-forget follow-up sent just after the operation resolves costs as much: count
  // it too. Settled by polling for quiet (two idle turns of the event loop in a row), not a sleep.
  let seen = -1;
  while (counter.commands.length !== seen) {
    seen = counter.commands.length;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { trips: counter.roundTrips, commands: counter.commands, value };
}

/** `["relsIndexRange", "hmget", "hmget"]` → `"relsIndexRange, hmget×2"` (first-seen order). */
function summarise(commands: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const name of commands) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n === 1 ? name : `${name}×${n}`)).join(", ");
}

function freshSession(): SessionData & Record<string, unknown> {
  return {
    cookie: {
      originalMaxAge: SESSION_MAX_AGE_MS,
      expires: new Date(Date.now() + SESSION_MAX_AGE_MS),
      httpOnly: true,
      path: "/",
    },
    views: 0,
  } as unknown as SessionData & Record<string, unknown>;
}

type SessionRequest = Parameters<RelsSessionsManager["recordAuthenticatedRequest"]>[1];

/** A session carrying `_rels` exactly as `recordAuthenticatedRequest` builds it on sign-in. */
async function recordFor(manager: RelsSessionsManager, user: string, sid: string): Promise<SessionData> {
  const sess = freshSession();
  const req = { session: sess, sessionID: sid, ip: "203.0.113.7", headers: { "user-agent": BENCH_UA } };
  await manager.recordAuthenticatedRequest(user, req as unknown as SessionRequest, {
    expiresAfter: SESSION_MAX_AGE_MS,
  });
  return sess;
}

interface RoundTripApp {
  login(user: string): Promise<string>;
  request(method: "GET" | "POST", path: string, cookie: string): Promise<string>;
  /** What the manager reads of the last request that reached a route. */
  readonly lastRequest: SessionRequest | undefined;
  close(): Promise<void>;
}

async function startApp(store: RelsRedisStore, manager: RelsSessionsManager): Promise<RoundTripApp> {
  const app = express();
  let lastRequest: SessionRequest | undefined;
  app.use(
    session({
      store,
      secret: "bench-secret-not-a-secret",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: SESSION_MAX_AGE_MS, httpOnly: true },
    }),
  );
  const fields = (req: Request) => req.session as unknown as Record<string, unknown>;
  const remember = (req: Request) => {
    lastRequest = {
      session: req.session,
      sessionID: req.sessionID,
      ip: req.ip,
      headers: { ...req.headers },
    } as SessionRequest;
  };
  app.post("/login/:user", (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((error: unknown) => {
      if (error) return next(error);
      const user = String(req.params.user);
      fields(req).benchUser = user;
      manager
        .recordAuthenticatedRequest(user, req, { expiresAfter: SESSION_MAX_AGE_MS, signInAt: new Date() })
        .then(() => res.send("ok"), next);
    });
  });
  app.get("/noop", (req: Request, res: Response) => {
    remember(req);
    res.send("ok");
  });
  const track = manager.trackSessions({
    getUser: (req: Request) => (fields(req).benchUser as string | undefined) ?? null,
  });
  app.get("/tracked", track, (req: Request, res: Response) => {
    remember(req);
    res.send("ok");
  });
  app.post("/write", (req: Request, res: Response) => {
    fields(req).views = Number(fields(req).views ?? 0) + 1;
    remember(req);
    res.send("ok");
  });
  app.post("/logout", (req: Request, res: Response, next: NextFunction) => {
    req.session.destroy((error: unknown) => (error ? next(error) : res.send("ok")));
  });

  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const request = async (method: "GET" | "POST", path: string, cookie: string) => {
    const res = await fetch(base + path, {
      method,
      headers: cookie ? { cookie, "user-agent": BENCH_UA } : { "user-agent": BENCH_UA },
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${body.slice(0, 200)}`);
    return (
      res.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ") || cookie
    );
  };
  return {
    login: (user) => request("POST", `/login/${encodeURIComponent(user)}`, ""),
    request,
    get lastRequest() {
      return lastRequest;
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("round-trips child failed:", error);
    process.exit(1);
  },
);

/**
 * requireSession() on a real Express app, without Redis: what it answers when `req.session`
 * is missing (as express-session leaves it while the store is disconnected), and which
 * errors of the session middleware it turns into a 503.
 */
import express from "express";
import type { RequestHandler } from "express";
import request from "supertest";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  RedisConnectionError,
  RedisUnavailableError,
  RedisVersionError,
  StoreReconfiguredError,
  redisErrorHandler,
  requireSession,
} from "../../src/index.js";
import type { RequireSessionOptions } from "../../src/index.js";

/** `before` stands where express-session would be; one route after requireSession. */
function app(before: RequestHandler, options?: RequireSessionOptions): express.Express {
  const a = express();
  a.use(before);
  a.use(requireSession(options));
  a.get("/", (_req, res) => {
    res.json({ ok: true });
  });
  return a;
}

const withSession: RequestHandler = (req, _res, next) => {
  (req as unknown as { session: object }).session = {};
  next();
};
const withoutSession: RequestHandler = (_req, _res, next) => next();
const failing =
  (error: Error): RequestHandler =>
  (_req, _res, next) =>
    next(error);

describe("requireSession", () => {
  it("passes requests that have a session", async () => {
    await request(app(withSession)).get("/").expect(200, { ok: true });
  });

  it("answers 503 + Retry-After in JSON to a client that asks for JSON", async () => {
    const res = await request(app(withoutSession)).get("/").set("Accept", "application/json").expect(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.body).toEqual({ error: "session_unavailable", message: expect.any(String), retryAfter: 5 });
  });

  it("answers HTML to browsers and to */*", async () => {
    for (const accept of ["text/html,application/xhtml+xml,*/*;q=0.8", "*/*"]) {
      const res = await request(app(withoutSession)).get("/").set("Accept", accept).expect(503);
      expect(res.headers["content-type"]).toMatch(/html/);
      expect(res.text).toContain("Temporarily unavailable");
    }
  });

  it("takes retryAfterSeconds", async () => {
    const res = await request(app(withoutSession, { retryAfterSeconds: 30 }))
      .get("/")
      .expect(503);
    expect(res.headers["retry-after"]).toBe("30");
  });

  it("turns the session middleware's Redis-unavailable errors into 503, and nothing else", async () => {
    await request(app(failing(new RedisUnavailableError("Redis is unavailable: connection closed"))))
      .get("/")
      .expect(503);
    await request(app(failing(new StoreReconfiguredError("RelsSession was reconfigured"))))
      .get("/")
      .expect(503);
    await request(app(failing(new Error("a bug"))))
      .get("/")
      .expect(500);
    await request(app(failing(new RedisUnavailableError("down")), { handleStoreErrors: false }))
      .get("/")
      .expect(500);
  });

  it("answers 503 for the subclasses a first connection fails with (refused, wrong db, old server)", async () => {
    await request(
      app(failing(new RedisConnectionError("127.0.0.1:1", "connection refused", "connect ECONNREFUSED"))),
    )
      .get("/")
      .expect(503);
    await request(app(failing(new RedisVersionError("127.0.0.1:6379", "Redis 6.2.14", "7.0"))))
      .get("/")
      .expect(503);
  });

  it("refuses bad options with a ConfigError naming them", () => {
    expect(() => requireSession({ retryAfterSeconds: 0 })).toThrow(ConfigError);
    expect(() => requireSession({ retryAfterSeconds: 0 })).toThrow(/requireSession\.retryAfterSeconds/);
    expect(() => requireSession({ retryAfter: 5 } as unknown as RequireSessionOptions)).toThrow(ConfigError);
  });
});

describe("redisErrorHandler", () => {
  /** A route that fails with `error` (as an async handler's rejection, which Express 5 forwards), then the handler. */
  function routeApp(error: Error, options?: Parameters<typeof redisErrorHandler>[0]): express.Express {
    const a = express();
    a.get("/", async () => {
      throw error;
    });
    a.use(redisErrorHandler(options));
    return a;
  }

  it("answers a route's Redis error with the 503 of requireSession (Retry-After, no-store, JSON or HTML)", async () => {
    const json = await request(
      routeApp(new RedisUnavailableError("Redis is unavailable (circuit open); failing fast")),
    )
      .get("/")
      .set("Accept", "application/json")
      .expect(503);
    expect(json.headers["retry-after"]).toBe("5");
    expect(json.headers["cache-control"]).toBe("no-store");
    expect(json.body).toEqual({ error: "session_unavailable", message: expect.any(String), retryAfter: 5 });
    const html = await request(
      routeApp(new RedisConnectionError("127.0.0.1:1", "connection refused", ""), { retryAfterSeconds: 12 }),
    )
      .get("/")
      .expect(503);
    expect(html.headers["retry-after"]).toBe("12");
    expect(html.text).toContain("Temporarily unavailable");
    // Nothing of the error reaches the client.
    expect(html.text).not.toContain("127.0.0.1");
  });

  it("finds the library's error as the cause of an app's own error", async () => {
    const wrapped = new Error("could not list devices", { cause: new RedisUnavailableError("down") });
    await request(routeApp(wrapped)).get("/").expect(503);
  });

  it("passes every other error on (Express answers 500)", async () => {
    await request(routeApp(new Error("a bug")))
      .get("/")
      .expect(500);
    await request(routeApp(new TypeError("x is undefined")))
      .get("/")
      .expect(500);
    await request(routeApp(new ConfigError([{ path: "store.ttl", message: "bad" }])))
      .get("/")
      .expect(500);
  });

  it("refuses bad options with a ConfigError naming them", () => {
    expect(() => redisErrorHandler({ retryAfterSeconds: 0 })).toThrow(/redisErrorHandler\.retryAfterSeconds/);
    expect(() => redisErrorHandler({ handleStoreErrors: true } as never)).toThrow(ConfigError);
  });
});

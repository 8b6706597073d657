/**
 * The Fastify 5 app of docs/fastify.md's "Using it with Fastify" (@fastify/cookie + @fastify/session
 * on a RelsRedisStore, the manager through `request`), built around a given store and
 * manager so that a test can run it with `app.inject()`.
 */
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import type { FastifySessionOptions } from "@fastify/session";
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from "fastify";
import { expect } from "vitest";
import type { RelsRedisStore, RelsSessionsManager } from "../../src/index.js";

declare module "fastify" {
  interface Session {
    userId?: string;
    visits?: number;
  }
}

/** The session cookie's name in the Fastify test app. */
export const FASTIFY_SESSION_COOKIE = "sid";

export interface FastifyAppOptions {
  store: RelsRedisStore;
  manager: RelsSessionsManager;
  /** The cookie's (and so the Redis TTL's) lifetime, ms; `null`: a browser-session cookie (no expiry, the store's `ttl`). */
  maxAge?: number | null;
  /** @fastify/session's `rolling` (save on every response). @default true, as @fastify/session's */
  rolling?: boolean;
  /** Cookie options merged over the app's (`secure: false`, `maxAge`). */
  cookie?: FastifySessionOptions["cookie"];
  /** A test's own routes, added before the app is made ready. */
  routes?: (app: FastifyInstance) => void;
}

/**
 * - `POST /login {userId}` regenerates the session (no fixation), signs in, records it;
 * - `GET /me` answers `{userId}` (null when signed out);
 * - `POST /rotate` regenerates the session of a signed-in user, keeping the user;
 * - `GET /account` lists the user's sessions (`current` marks this one);
 * - `POST /sessions/:id/revoke`, `POST /sessions/revoke-others`, `POST /logout`.
 */
export async function buildFastifyApp(options: FastifyAppOptions): Promise<FastifyInstance> {
  const { store, manager } = options;
  const maxAge = options.maxAge === undefined ? 3_600_000 : options.maxAge;
  const lifetime = maxAge === null ? {} : { maxAge };
  const record = maxAge === null ? {} : { expiresAfter: maxAge };
  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    store,
    secret: "rels-session-fastify-test-secret-of-32+chars",
    cookieName: FASTIFY_SESSION_COOKIE,
    // Plain HTTP in tests: the default `secure: true` would never send the cookie.
    cookie: { secure: false, ...lifetime, ...options.cookie },
    saveUninitialized: false,
    ...(options.rolling === undefined ? {} : { rolling: options.rolling }),
  });
  // As docs/fastify.md's example: keep lastSeenAt, IP and device fresh on signed-in requests.
  app.addHook("preHandler", async (request) => {
    const userId = request.session.userId;
    if (userId) await manager.recordAuthenticatedRequest(userId, request);
  });

  app.post<{ Body: { userId: string } }>("/login", async (request) => {
    const userId = String(request.body.userId);
    await request.session.regenerate();
    request.session.userId = userId;
    await manager.recordAuthenticatedRequest(userId, request, record);
    return { userId };
  });

  app.get("/me", async (request) => ({ userId: request.session.userId ?? null }));

  app.post("/rotate", async (request, reply) => {
    const userId = request.session.userId;
    if (!userId) return reply.code(401).send({ userId: null });
    await request.session.regenerate();
    request.session.userId = userId;
    await manager.recordAuthenticatedRequest(userId, request, record);
    return { userId };
  });

  app.get("/account", async (request, reply) => {
    const userId = request.session.userId;
    if (!userId) return reply.code(401).send([]);
    return manager.activeSessions(userId, { current: request });
  });

  app.post<{ Params: { id: string } }>("/sessions/:id/revoke", async (request, reply) => {
    const userId = request.session.userId;
    if (!userId) return reply.code(401).send({ revoked: false });
    return { revoked: await manager.logoutSession(userId, request.params.id) };
  });

  app.post("/sessions/revoke-others", async (request, reply) => {
    const userId = request.session.userId;
    if (!userId) return reply.code(401).send({ revoked: 0 });
    return { revoked: await manager.logoutOtherSessions(userId, request) };
  });

  app.post("/logout", async (request) => {
    await request.session.destroy();
    return { ok: true };
  });

  options.routes?.(app);
  await app.ready();
  return app;
}

/** The `name=value` of the session cookie a response set (fails the test when it set none). */
export function fastifySessionCookie(response: LightMyRequestResponse): string {
  const cookie = response.cookies.find((c) => c.name === FASTIFY_SESSION_COOKIE);
  expect(
    cookie,
    `a ${FASTIFY_SESSION_COOKIE} cookie in the response (status ${response.statusCode})`,
  ).toBeDefined();
  return `${cookie!.name}=${cookie!.value}`;
}

/** The sid inside a @fastify/session cookie: `<sid>.<signature>`, URI-encoded. */
export function fastifySidOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
  return value.slice(0, value.lastIndexOf("."));
}

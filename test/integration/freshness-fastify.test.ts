/**
 * Freshness with Fastify (docs/lifetimes.md "Fastify"): a `preHandler` built on
 * `manager.freshness(request, { maxAgeMs })` refuses a stale session, and `markFresh` on a
 * Fastify request makes it pass, written with @fastify/session's save like any metadata.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createRelsSession } from "../../src/index.js";
import { deleteNamespace } from "../support/cleanup.js";
import { buildFastifyApp, fastifySessionCookie } from "../support/fastify-app.js";

const url = inject("redisUrl");
const namespace = `t-fresh-fastify-${randomUUID()}`;
const instance = createRelsSession(
  { applicationName: "Turtle", redisOptions: { url, namespace } },
  { env: {} },
);
const MAX_AGE_MS = 1_000;
let app: FastifyInstance;

beforeAll(async () => {
  const manager = instance.manager;
  app = await buildFastifyApp({
    store: instance.store,
    manager,
    routes: (routes) => {
      routes.post(
        "/sensitive",
        {
          preHandler: async (request, reply) => {
            const freshness = manager.freshness(request, { maxAgeMs: MAX_AGE_MS });
            if (!freshness.fresh)
              return reply
                .code(401)
                .send({ error: "reauthentication_required", authMethod: freshness.authMethod });
          },
        },
        async () => ({ ok: true }),
      );
      routes.post("/confirm-password", async (request) => {
        const meta = manager.markFresh(request, { method: "password" });
        return { authMethod: meta.authMethod };
      });
    },
  });
});

afterAll(async () => {
  await app.close();
  await instance.close();
  await deleteNamespace(url, namespace);
});

describe("freshness with Fastify", () => {
  it("a preHandler on freshness() refuses a stale session; markFresh makes it pass", async () => {
    const login = await app.inject({ method: "POST", url: "/login", payload: { userId: "alice" } });
    const signedInBy = Date.now();
    const cookie = fastifySessionCookie(login);
    const post = (path: string) => app.inject({ method: "POST", url: path, headers: { cookie } });
    expect((await post("/sensitive")).statusCode).toBe(200);

    await expect.poll(() => Date.now() > signedInBy + MAX_AGE_MS, { timeout: 5_000 }).toBe(true);
    const stale = await post("/sensitive");
    expect(stale.statusCode).toBe(401);
    expect(stale.json()).toEqual({ error: "reauthentication_required", authMethod: "sign-in" });

    expect((await post("/confirm-password")).json()).toEqual({ authMethod: "password" });
    // Read back from Redis on the next request: @fastify/session saved it.
    expect((await post("/sensitive")).statusCode).toBe(200);
  });
});

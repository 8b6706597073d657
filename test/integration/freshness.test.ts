/**
 * Freshness ("sudo mode", issue 21 item 2) through express-session on a standalone Redis:
 * `requireFreshSession` refuses a session that last authenticated too long ago with the
 * documented 401 (or the app's `onStale`), lets a fresh one through; `markFresh` makes a stale
 * one pass; regenerating or revoking the session takes its freshness away.
 *
 * A stale session is one signed in with a `signInAt` in the past (its authentication is then),
 * so nothing waits for time to pass.
 */
import { randomUUID } from "node:crypto";
import request from "supertest";
import { afterAll, describe, expect, inject, it } from "vitest";
import { ConfigError, createRelsSession } from "../../src/index.js";
import { deleteNamespace } from "../support/cleanup.js";
import { FRESH_MAX_AGE_MS, lifetimeApp } from "../support/lifetime-app.js";
import { expectSessionCookie } from "../support/express-app.js";
import { storedMetaOf } from "../support/internals.js";
import { sidOf } from "../support/express-app.js";

const url = inject("redisUrl");
const namespace = `t-fresh-${randomUUID()}`;
const instance = createRelsSession(
  { applicationName: "Turtle", redisOptions: { url, namespace } },
  { env: {} },
);
const app = lifetimeApp(instance.store, instance.manager);

afterAll(async () => {
  await instance.close();
  await deleteNamespace(url, namespace);
});

async function signIn(userId: string, body: Record<string, unknown> = {}): Promise<string> {
  return expectSessionCookie(
    await request(app)
      .post("/login")
      .send({ userId, ...body })
      .expect(200),
  );
}

const LONG_AGO = () => Date.now() - FRESH_MAX_AGE_MS - 60_000;

describe("freshness: requireFreshSession, markFresh", () => {
  it("a session just signed in passes; one that signed in too long ago gets the documented 401", async () => {
    const fresh = await signIn("alice", { authMethod: "password" });
    const ok = await request(app).post("/sensitive").set("Cookie", fresh).expect(200);
    expect(ok.body.freshness).toMatchObject({
      fresh: true,
      authMethod: "password",
      maxAgeMs: FRESH_MAX_AGE_MS,
    });

    const signedInAt = LONG_AGO();
    const stale = await signIn("alice", { signInAtMs: signedInAt });
    const refused = await request(app).post("/sensitive").set("Cookie", stale).expect(401);
    expect(refused.body).toEqual({
      error: "reauthentication_required",
      message: "This action needs a recent sign-in: please authenticate again.",
      maxAgeMs: FRESH_MAX_AGE_MS,
      authenticatedAt: new Date(signedInAt).toISOString(),
    });
    // The route did not run; the session is still signed in for everything else.
    expect((await request(app).get("/me").set("Cookie", stale).expect(200)).body.userId).toBe("alice");
  });

  it("markFresh makes a stale session pass, and records how it authenticated (in Redis, with the session)", async () => {
    const stale = await signIn("bob", { signInAtMs: LONG_AGO() });
    await request(app).post("/sensitive").set("Cookie", stale).expect(401);
    const confirmed = await request(app).post("/confirm-password").set("Cookie", stale).expect(200);
    expect(confirmed.body.authMethod).toBe("password");
    expect(Date.now() - Date.parse(confirmed.body.authenticatedAt as string)).toBeLessThan(FRESH_MAX_AGE_MS);
    // Written with the request's session: the next request reads it back from Redis.
    const meta = await storedMetaOf(instance.store, sidOf(stale));
    expect(meta).toMatchObject({ authMethod: "password", authenticatedAt: confirmed.body.authenticatedAt });
    const ok = await request(app).post("/sensitive").set("Cookie", stale).expect(200);
    expect(ok.body.freshness).toMatchObject({ fresh: true, authMethod: "password" });
  });

  it("a regenerated session has no freshness until it signs in again", async () => {
    const fresh = await signIn("carol");
    await request(app).post("/sensitive").set("Cookie", fresh).expect(200);
    const regenerated = expectSessionCookie(
      await request(app).post("/regenerate").set("Cookie", fresh).expect(200),
    );
    const refused = await request(app).post("/sensitive").set("Cookie", regenerated).expect(401);
    expect(refused.body).toMatchObject({ error: "reauthentication_required", authenticatedAt: null });
    // markFresh needs a signed-in session: the regenerated one is not (recorded nothing).
    const error = await request(app).post("/confirm-password").set("Cookie", regenerated).expect(500);
    expect(error.body.message).toContain("markFresh needs a signed-in session");
  });

  it("revoking the session ends its freshness with it", async () => {
    const fresh = await signIn("dave");
    await request(app).post("/sensitive").set("Cookie", fresh).expect(200);
    expect(await instance.manager.logoutAllSessions("dave")).toBe(1);
    const refused = await request(app).post("/sensitive").set("Cookie", fresh).expect(401);
    expect(refused.body).toMatchObject({ error: "reauthentication_required", authenticatedAt: null });
  });

  it("onStale answers instead of the 401: a redirect the app chooses", async () => {
    const stale = await signIn("erin", { signInAtMs: LONG_AGO() });
    const res = await request(app).post("/sensitive-redirect").set("Cookie", stale).expect(303);
    expect(res.headers.location).toBe("/reauthenticate");
    const fresh = await signIn("erin");
    await request(app).post("/sensitive-redirect").set("Cookie", fresh).expect(200);
  });

  it("options are checked at mount: a maxAgeMs written in seconds is a ConfigError naming the field", () => {
    expect(() => instance.manager.requireFreshSession({ maxAgeMs: 7200 / 1000 })).toThrow(ConfigError);
    try {
      instance.manager.requireFreshSession({ maxAgeMs: 5 });
    } catch (error) {
      expect((error as ConfigError).issues[0]?.path).toBe("requireFreshSession.maxAgeMs");
    }
    expect(() =>
      instance.manager.requireFreshSession({ maxAgeMs: 60_000, onStale: "redirect" as never }),
    ).toThrow(/requireFreshSession\.onStale/);
  });
});

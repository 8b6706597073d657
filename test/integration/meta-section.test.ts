/**
 * Issue 19: session metadata is a section of the record (layout 4), not an enumerable field of
 * the session: absent from the session's JSON, present in listings, in Express and Fastify,
 * after regenerate, after a copy is saved, and side by side with a store that writes layout 3
 * (a rolling upgrade).
 */
import { randomUUID } from "node:crypto";
import request from "supertest";
import type { Request } from "express";
import { describe, expect, it } from "vitest";
import type { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { keysOf, storedMetaOf } from "../support/internals.js";
import { storesForThisFile } from "../support/stores.js";
import { newSid, sessionFor, sha256 } from "../support/store-contract.js";
import { expectSessionCookie, signInApp, sidOf } from "../support/express-app.js";
import { buildFastifyApp, fastifySessionCookie, fastifySidOf } from "../support/fastify-app.js";
import { streamSessions } from "../../src/users/stream.js";

const { inspector, storeWith } = storesForThisFile();
const IP = "192.0.2.7";

function managerOf(store: RelsRedisStore) {
  return new RelsSessionsManager({ store, applicationName: "T" });
}

/** Signs `userId` in on a fresh sid, as a request would, and saves the session. */
async function signIn(store: RelsRedisStore, userId: string) {
  const sid = newSid();
  const session = sessionFor(60_000);
  await managerOf(store).recordAuthenticatedRequest(userId, {
    sessionID: sid,
    session,
    ip: IP,
    headers: { "user-agent": "Firefox/128.0" },
  } as never);
  await store.set(sid, session);
  return { sid, session };
}

async function rawRecord(store: RelsRedisStore, sid: string): Promise<string> {
  return (await inspector.get(keysOf(store).session(sha256(sid)))) ?? "";
}

/** A session's JSON, spread and clone never carry the metadata. */
function expectHidden(session: object) {
  expect(JSON.stringify(session)).not.toContain(IP);
  expect(JSON.stringify({ ...session })).not.toContain(IP);
  expect(JSON.stringify(structuredClone(session))).not.toContain(IP);
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe("the metadata section (layout 4)", () => {
  it("is absent from the session's JSON, spreads and clones, and present in activeSessions and the stream", async () => {
    const store = storeWith();
    const user = `u-${randomUUID()}`;
    const { sid, session } = await signIn(store, user);
    expectHidden(session);
    expect(await rawRecord(store, sid)).toMatch(/^4/);
    const read = (await store.get(sid))!;
    expectHidden(read);
    expect((await managerOf(store).activeSessions(user)).map((s) => s.ip)).toEqual([IP]);
    expect((await collect(streamSessions(store, 10))).map((m) => m.userId)).toEqual([user]);
  });

  it("is written back unchanged when nothing changed: a save of the session read keeps it byte for byte", async () => {
    const store = storeWith();
    const { sid } = await signIn(store, `u-${randomUUID()}`);
    const before = await rawRecord(store, sid);
    const section = (text: string) =>
      text.slice(text.indexOf("\n") + 1, text.indexOf("\n", text.indexOf("\n") + 1));
    const read = (await store.get(sid)) as unknown as Record<string, unknown>;
    read.visits = 1;
    await store.set(sid, read as never);
    expect(section(await rawRecord(store, sid))).toBe(section(before));
  });

  it("a copy of the session (what Fastify saves) keeps the stored metadata, even in a process that never read it", async () => {
    const namespace = `t-${randomUUID()}`;
    const store = storeWith({ namespace });
    const user = `u-${randomUUID()}`;
    const { sid } = await signIn(store, user);
    const read = (await store.get(sid))!;
    // This process: the copy is placed by its recent reads.
    await store.set(sid, { ...read, visits: 1 } as never);
    // Another process (no read of it): the write script leaves the stored section, the store reads it and writes again.
    const elsewhere = storeWith({ namespace });
    await elsewhere.set(sid, { ...JSON.parse(JSON.stringify(read)), visits: 2 } as never);
    expect(await storedMetaOf(store, sid)).toMatchObject({ userId: user, ip: IP });
    expect((await managerOf(store).activeSessions(user)).map((s) => s.ip)).toEqual([IP]);
    expect(await store.get(sid)).toMatchObject({ visits: 2 });
  });

  it("setting `_rels` to null signs the session out of its listing; a new session of no one holds an empty section", async () => {
    const store = storeWith();
    const user = `u-${randomUUID()}`;
    const { sid } = await signIn(store, user);
    const read = (await store.get(sid)) as unknown as Record<string, unknown>;
    read._rels = null;
    await store.set(sid, read as never);
    expect(await managerOf(store).activeSessions(user)).toEqual([]);
    expect(await storedMetaOf(store, sid)).toBeNull();
    const anonymous = newSid();
    await store.set(anonymous, sessionFor(60_000, { n: 1 }));
    expect(await rawRecord(store, anonymous)).toMatch(/^4[0-9]{48}\t\n\n\{/);
  });

  it("Express: absent from req.session's JSON, present in activeSessions, after regenerate and on later requests", async () => {
    const store = storeWith();
    const manager = managerOf(store);
    const seen: string[] = [];
    const app = signInApp(store, {
      onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req as never),
    });
    app.get("/json", async (req: Request, res) => {
      const userId = (req.session as unknown as { userId?: string }).userId;
      if (userId) await manager.recordAuthenticatedRequest(userId, req as never);
      seen.push(JSON.stringify(req.session), JSON.stringify({ ...req.session }));
      res.json({
        listed: userId
          ? (await manager.activeSessions(userId, { current: req as never })).map((s) => ({
              ip: s.ip,
              current: s.current,
            }))
          : [],
      });
    });
    const user = `u-${randomUUID()}`;
    const login = await request(app)
      .post("/login")
      .set("X-Forwarded-For", IP)
      .send({ userId: user })
      .expect(200);
    const cookie = expectSessionCookie(login);
    const { body } = await request(app).get("/json").set("Cookie", cookie).expect(200);
    expect(body.listed).toHaveLength(1);
    expect(body.listed[0].current).toBe(true);
    expect(seen.join()).not.toContain("userAgent");
    expect(await storedMetaOf(store, sidOf(cookie))).toMatchObject({ userId: user });
  });

  it("Fastify: absent from the session's JSON, present in activeSessions, after regenerate (rotate) and later requests", async () => {
    const store = storeWith();
    const manager = managerOf(store);
    const seen: string[] = [];
    const app = await buildFastifyApp({
      store,
      manager,
      routes: (a) =>
        a.get("/json", async (req) => {
          seen.push(JSON.stringify(req.session), JSON.stringify({ ...req.session }));
          return { ok: true };
        }),
    });
    try {
      const user = `u-${randomUUID()}`;
      const login = await app.inject({
        method: "POST",
        url: "/login",
        payload: { userId: user },
        headers: { "user-agent": "Firefox/128.0" },
      });
      let cookie = fastifySessionCookie(login);
      await app.inject({ method: "GET", url: "/json", headers: { cookie } });
      const rotated = await app.inject({
        method: "POST",
        url: "/rotate",
        headers: { cookie, "user-agent": "Firefox/128.0" },
      });
      cookie = fastifySessionCookie(rotated);
      await app.inject({ method: "GET", url: "/json", headers: { cookie } });
      const account = await app.inject({ method: "GET", url: "/account", headers: { cookie } });
      const listed = account.json<Array<{ userId: string; current: boolean }>>();
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ userId: user, current: true });
      expect(seen.join()).not.toContain("userAgent");
      expect(await storedMetaOf(store, fastifySidOf(cookie))).toMatchObject({ userId: user });
    } finally {
      await app.close();
    }
  });
});

describe("a rolling upgrade: a store writing layout 3 and one writing layout 4, side by side", () => {
  it("each reads, lists and saves the other's sessions; none is treated as corrupt or deleted", async () => {
    const namespace = `t-${randomUUID()}`;
    const warnings: unknown[] = [];
    const logger = {
      warn: (...args: unknown[]) => warnings.push(args),
      error: (...args: unknown[]) => warnings.push(args),
    };
    const old = storeWith({ namespace, recordLayout: 3, logger });
    const current = storeWith({ namespace, logger });
    const user = `u-${randomUUID()}`;
    const a = await signIn(old, user);
    const b = await signIn(current, user);
    expect(await rawRecord(old, a.sid)).toMatch(/^3/);
    expect(await rawRecord(current, b.sid)).toMatch(/^4/);
    for (const store of [old, current]) {
      expect((await managerOf(store).activeSessions(user)).map((s) => s.ip)).toEqual([IP, IP]);
      for (const { sid } of [a, b]) {
        const read = (await store.get(sid)) as unknown as Record<string, unknown>;
        expectHidden(read);
        read.visits = ((read.visits as number | undefined) ?? 0) + 1;
        await store.set(sid, read as never);
      }
    }
    // The last writer was the new store: both moved to layout 4, metadata kept.
    expect(await rawRecord(current, a.sid)).toMatch(/^4/);
    expect(await storedMetaOf(current, a.sid)).toMatchObject({ userId: user });
    // And back to layout 3 (a rollback's first step), metadata inside the payload again.
    await old.set(a.sid, (await old.get(a.sid))!);
    expect(await rawRecord(old, a.sid)).toMatch(/^3.*"_rels":\{/s);
    expect(await managerOf(current).activeSessions(user)).toHaveLength(2);
    expect(await current.get(a.sid)).toMatchObject({ visits: 2 });
    expect(await current.get(b.sid)).toMatchObject({ visits: 2 });
    expect(warnings).toEqual([]);
  });
});

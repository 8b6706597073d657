/**
 * Hostile data through a real store on a real Redis: application names that are
 * Object.prototype's own, escaped prototype keys in stored payloads (private and plain-sid
 * keys), decompression bombs and sessions that compress past the size cap.
 */
import { keysOf, withMetaField } from "../support/internals.js";
import { storesForThisFile } from "../support/stores.js";
import { exposedGc } from "../support/gc.js";
import { newSid, sha256 } from "../support/store-contract.js";
import { deflateRawSync } from "node:zlib";
import type { SessionData } from "express-session";
import { describe, expect, it } from "vitest";
import { SessionPayloadTooLargeError, type RelsRedisStore } from "../../src/index.js";
import { decodeSessionMeta } from "../../src/users/meta-codec.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";

const { inspector, storeWith } = storesForThisFile();

function sessionFor(maxAgeMs = 60_000, data: Record<string, unknown> = {}): SessionData {
  return {
    cookie: { originalMaxAge: maxAgeMs, expires: new Date(Date.now() + maxAgeMs), httpOnly: true, path: "/" },
    ...data,
  } as unknown as SessionData;
}

/** A bare request of `session`, as a framework hands it to the manager. */
function request(sid: string, session: Record<string, unknown>): never {
  return { sessionID: sid, session, ip: "192.0.2.7", headers: { "user-agent": "curl/8.0" } } as never;
}

/** Write a stored payload as another process (or an attacker with Redis access) would. */
async function plant(store: RelsRedisStore, sid: string, payload: string | Buffer): Promise<string> {
  const key = keysOf(store).session(sha256(sid));
  await inspector.hset(key, "d", payload);
  await inspector.pexpire(key, 60_000);
  return key;
}

describe("totals().byApplication with application names from Object.prototype", () => {
  it("counts __proto__, toString, constructor, hasOwnProperty and valueOf like any other name", async () => {
    const store = storeWith();
    // A Map: an object literal would take "__proto__" as the prototype, not as a name.
    const counts = new Map<string, number>([
      ["__proto__", 1],
      ["toString", 2],
      ["constructor", 3],
      ["hasOwnProperty", 1],
      ["valueOf", 2],
      ["Turtle", 1],
    ]);
    for (const [applicationName, count] of counts) {
      const manager = new RelsSessionsManager({ store, applicationName });
      for (let i = 0; i < count; i++) {
        const sid = newSid();
        const session = sessionFor();
        await manager.recordAuthenticatedRequest(`u-${applicationName}-${i}`, {
          sessionID: sid,
          session,
          ip: "192.0.2.7",
          headers: {},
        } as never);
        await store.set(sid, session);
      }
    }

    const totals = await new SessionStats(store).totals();
    expect(totals.totalSessions).toBe(10);
    expect(Object.getPrototypeOf(totals.byApplication)).toBeNull();
    expect(Object.keys(totals.byApplication).sort()).toEqual([...counts.keys()].sort());
    for (const [applicationName, count] of counts) {
      expect(Object.hasOwn(totals.byApplication, applicationName), applicationName).toBe(true);
      expect(totals.byApplication[applicationName], applicationName).toBe(count);
    }
  });
});

describe("escaped prototype keys in stored payloads", () => {
  const hostile = String.raw`"\u005f_proto__":{"polluted":true,"userId":"attacker"},"nested":{"\u005f\u005fproto__":{"x":1},"ok":1}`;

  it("a private-key session read by the store has no own __proto__", async () => {
    const store = storeWith();
    const sid = newSid();
    await plant(store, sid, `{"cookie":{"originalMaxAge":60000},${hostile},"userId":"u"}`);
    const loaded = (await store.get(sid)) as unknown as Record<string, unknown>;
    expect(loaded).not.toBeNull();
    expect(Object.hasOwn(loaded, "__proto__")).toBe(false);
    expect(Object.hasOwn(loaded.nested as object, "__proto__")).toBe(false);
    expect((Object.assign({}, loaded) as { polluted?: unknown }).polluted).toBeUndefined();
    expect(loaded.userId).toBe("u");
  });

  it("a plain-sid session read through legacyFallback has no own __proto__", async () => {
    const store = storeWith({ legacyFallback: true });
    const sid = newSid();
    await inspector.set(
      keysOf(store).legacy(sid),
      `{"cookie":{"originalMaxAge":60000},${hostile},"userId":"u"}`,
      "PX",
      60_000,
    );
    const loaded = (await store.get(sid)) as unknown as Record<string, unknown>;
    expect(loaded).not.toBeNull();
    expect(Object.hasOwn(loaded, "__proto__")).toBe(false);
    expect(Object.hasOwn(loaded.nested as object, "__proto__")).toBe(false);
    expect(loaded.userId).toBe("u");
  });
});

describe("compressed payloads and maxPayloadBytes", () => {
  /** 16 MiB of session stored in ~16 KB: marker byte 0x00 + raw deflate, as the store writes it. */
  function bomb(): Buffer {
    const json = JSON.stringify({ cookie: { originalMaxAge: 60_000 }, blob: "a".repeat(16 * 1_048_576) });
    return Buffer.concat([Buffer.of(0), deflateRawSync(json)]);
  }

  it("a decompression bomb is a miss on a store with compression off, and is removed", async () => {
    const store = storeWith();
    const sid = newSid();
    const payload = bomb();
    expect(payload.length).toBeLessThan(64 * 1024);
    const key = await plant(store, sid, payload);
    expect(await store.get(sid)).toBeNull();
    expect(await inspector.exists(key)).toBe(0);
  });

  it("a decompression bomb is a miss on a store with compression on", async () => {
    const store = storeWith({ compressThreshold: 64 });
    const sid = newSid();
    await plant(store, sid, bomb());
    expect(await store.get(sid)).toBeNull();
  });

  it("with compression on, a session over maxPayloadBytes before compression is refused and nothing is written", async () => {
    const store = storeWith({ compressThreshold: 64 });
    const sid = newSid();
    const session = sessionFor(60_000, { blob: "z".repeat(2 * 1_048_576) });
    await expect(store.set(sid, session)).rejects.toBeInstanceOf(SessionPayloadTooLargeError);
    expect(await inspector.exists(keysOf(store).session(sha256(sid)))).toBe(0);
    // A compressible session under the cap is still stored compressed and read back.
    const small = sessionFor(60_000, { blob: "z".repeat(500_000) });
    await store.set(sid, small);
    // Layout 4: the payload follows the metadata section's newline; 0x00 marks it compressed.
    const stored = await inspector.getBuffer(keysOf(store).session(sha256(sid)));
    expect(stored?.[stored.indexOf(10, stored.indexOf(10) + 1) + 1]).toBe(0);
    expect(await store.get(sid)).toMatchObject({ blob: "z".repeat(500_000) });
  });
});

describe("stored metadata carrying a large unknown field", () => {
  it("is decoded on each request but never kept: 40 sessions with 512 KB of it each leave the heap as it was", async () => {
    const gc = exposedGc();
    const store = storeWith();
    const manager = new RelsSessionsManager({ store, applicationName: "Memo" });
    const stored = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const sid = newSid();
        const session = sessionFor(60_000) as unknown as Record<string, unknown>;
        await manager.recordAuthenticatedRequest(`memo-${i}`, request(sid, session));
        return { sid, user: `memo-${i}`, json: JSON.stringify(withMetaField(session)) };
      }),
    );
    gc();
    const before = process.memoryUsage().heapUsed;
    for (const { sid, user, json } of stored) {
      // As another writer left it in Redis: valid metadata plus a field this library does not know.
      const session = JSON.parse(json) as { _rels: Record<string, unknown> };
      session._rels.note = `${sid}:${"x".repeat(512 * 1024)}`;
      const meta = await manager.recordAuthenticatedRequest(user, request(sid, session));
      expect(meta.userId).toBe(user);
      expect(meta).not.toHaveProperty("note");
    }
    gc();
    const kept = process.memoryUsage().heapUsed - before;
    // The manager (and what it remembers) must outlive the measurement.
    expect(manager.sessionIdOf({ sessionID: stored[0]!.sid })).not.toBe("");
    expect(kept).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("stored metadata the memo of decoded metadata must not trust", () => {
  /** A session signed in by `user`, and its JSON as Redis would hold it. */
  async function signedIn(
    manager: RelsSessionsManager,
    user: string,
  ): Promise<{ sid: string; json: string }> {
    const sid = newSid();
    const session = sessionFor(60_000) as unknown as Record<string, unknown>;
    await manager.recordAuthenticatedRequest(user, request(sid, session));
    return { sid, json: JSON.stringify(withMetaField(session)) };
  }

  /**
   * The heap one tracked request each of 1,000 sessions leaves behind, when each session's
   * stored metadata is `rels(handle)` (with the JSON of a session `manager` signed in).
   */
  async function heapKept(
    manager: RelsSessionsManager,
    json: string,
    rels: (handle: string) => unknown,
  ): Promise<number> {
    const gc = exposedGc();
    const sessions = Array.from({ length: 1_000 }, () => newSid());
    gc();
    const before = process.memoryUsage().heapUsed;
    for (const sid of sessions) {
      const session = JSON.parse(json) as Record<string, unknown>;
      session._rels = JSON.parse(JSON.stringify(rels(manager.sessionIdOf({ sessionID: sid })))) as unknown;
      await manager.recordAuthenticatedRequest("template", request(sid, session));
    }
    gc();
    const kept = process.memoryUsage().heapUsed - before;
    // The manager (and what it remembers) must outlive the measurement.
    expect(manager.sessionIdOf({ sessionID: sessions[0]! })).not.toBe("");
    return kept;
  }

  it("a throwing getter in the stored metadata is a session without metadata, not a failed request", async () => {
    const manager = new RelsSessionsManager({ store: storeWith(), applicationName: "Memo" });
    const boom = Object.defineProperty({}, "sessionId", {
      enumerable: true,
      get() {
        throw new Error("getter boom");
      },
    });
    const session = { ...(sessionFor(60_000) as unknown as Record<string, unknown>), _rels: boom };
    const meta = await manager.recordAuthenticatedRequest("getter-user", request(newSid(), session));
    expect(meta.userId).toBe("getter-user");
  });

  it("metadata whose JSON differs from its fields (toJSON) is never remembered, for its session or another's", async () => {
    const manager = new RelsSessionsManager({ store: storeWith(), applicationName: "Memo" });
    const victim = await signedIn(manager, "victim");
    const stored = (JSON.parse(victim.json) as { _rels: Record<string, unknown> })._rels;
    const victimRequest = () =>
      manager.recordAuthenticatedRequest(
        "victim",
        request(victim.sid, JSON.parse(victim.json) as Record<string, unknown>),
      );
    const real = (await victimRequest()).signInAt.toISOString();
    // Its own session: fields that say 2001, JSON that says what Redis holds.
    const forged = { ...stored, signInAt: "2001-01-01T00:00:00.000Z", toJSON: () => stored };
    await manager.recordAuthenticatedRequest(
      "victim",
      request(victim.sid, { ...(JSON.parse(victim.json) as object), _rels: forged }),
    );
    expect((await victimRequest()).signInAt.toISOString()).toBe(real);
    // Another session carrying the victim's metadata (its handle included) the same way.
    const other = await signedIn(manager, "other");
    const planted = { ...stored, signInAt: "1999-09-09T00:00:00.000Z", toJSON: () => stored };
    await manager.recordAuthenticatedRequest(
      "victim",
      request(other.sid, { ...(JSON.parse(other.json) as object), _rels: planted }),
    );
    expect((await victimRequest()).signInAt.toISOString()).toBe(real);
  });

  it("a field the memo's comparison cannot see (not enumerable) is never answered for by the memo", async () => {
    const manager = new RelsSessionsManager({ store: storeWith(), applicationName: "Memo" });
    const { sid, json } = await signedIn(manager, "hidden");
    // As an older writer left it: a browser without its version. Decoded and remembered.
    const older = JSON.parse(json) as { _rels: Record<string, unknown> };
    older._rels.browser = { name: "Chrome" };
    const olderJson = JSON.stringify(older);
    expect(
      (
        await manager.recordAuthenticatedRequest(
          "hidden",
          request(sid, JSON.parse(olderJson) as Record<string, unknown>),
        )
      ).browser,
    ).toEqual({
      name: "Chrome",
      version: null,
    });
    // The same, with a version the decoder reads but Object.keys does not list.
    const hidden = JSON.parse(olderJson) as { _rels: Record<string, unknown> };
    hidden._rels.browser = Object.defineProperty({ name: "Chrome" }, "version", {
      value: "6.6.6",
      enumerable: false,
    });
    const meta = await manager.recordAuthenticatedRequest(
      "hidden",
      request(sid, hidden as unknown as Record<string, unknown>),
    );
    expect(meta.browser).toEqual(decodeSessionMeta(hidden._rels)!.browser);
    expect(meta.browser?.version).toBe("6.6.6");
  });

  it("metadata holding many values in one object is decoded on each request but never kept", async () => {
    const manager = new RelsSessionsManager({ store: storeWith(), applicationName: "Memo" });
    const { json } = await signedIn(manager, "template");
    const base = (JSON.parse(json) as { _rels: Record<string, unknown> })._rels;
    // Under the 4,096-character and 8-container caps: one object of ~450 distinct keys.
    const extra: Record<string, number> = {};
    for (let i = 0; JSON.stringify({ ...base, x: extra }).length < 4_000; i++) extra[`k${i}`] = i;
    // A memo that kept them held ~25 MB.
    expect(await heapKept(manager, json, (sessionId) => ({ ...base, sessionId, x: extra }))).toBeLessThan(
      6 * 1024 * 1024,
    );
  });

  it("metadata holding many small objects is decoded on each request but never kept", async () => {
    const manager = new RelsSessionsManager({ store: storeWith(), applicationName: "Memo" });
    const { json } = await signedIn(manager, "template");
    const base = (JSON.parse(json) as { _rels: Record<string, unknown> })._rels;
    // Under the 4,096-character cap, but ~1,300 objects once parsed.
    const room = 4_000 - JSON.stringify({ ...base, j: [] }).length;
    const junk = Array.from({ length: Math.floor(room / 3) }, () => ({}));
    expect(JSON.stringify({ ...base, j: junk }).length).toBeLessThanOrEqual(4_096);
    // A memo that kept them held ~70 MB.
    expect(await heapKept(manager, json, (sessionId) => ({ ...base, sessionId, j: junk }))).toBeLessThan(
      16 * 1024 * 1024,
    );
  });
});

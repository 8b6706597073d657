/**
 * Hostile data through a real store on a real Redis: application names that are
 * Object.prototype's own, escaped prototype keys in stored payloads (private and plain-sid
 * keys), decompression bombs and sessions that compress past the size cap.
 */
import { keysOf } from "../support/internals.js";
import { storesForThisFile } from "../support/stores.js";
import { exposedGc } from "../support/gc.js";
import { newSid, sha256 } from "../support/store-contract.js";
import { deflateRawSync } from "node:zlib";
import type { SessionData } from "express-session";
import { describe, expect, it } from "vitest";
import { RelsSessionsManager, SessionPayloadTooLargeError, SessionStats, type RelsRedisStore } from "../../src/index.js";

const { inspector, storeWith } = storesForThisFile();


function sessionFor(maxAgeMs = 60_000, data: Record<string, unknown> = {}): SessionData {
  return {
    cookie: { originalMaxAge: maxAgeMs, expires: new Date(Date.now() + maxAgeMs), httpOnly: true, path: "/" },
    ...data,
  } as unknown as SessionData;
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
        await manager.recordAuthenticatedRequest(`u-${applicationName}-${i}`, { sessionID: sid, session, ip: "192.0.2.7", headers: {} } as never);
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
    await inspector.set(keysOf(store).legacy(sid), `{"cookie":{"originalMaxAge":60000},${hostile},"userId":"u"}`, "PX", 60_000);
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
    // Layout 3: the payload follows the header's newline; 0x00 marks it compressed.
    const stored = await inspector.getBuffer(keysOf(store).session(sha256(sid)));
    expect(stored?.[stored.indexOf(10) + 1]).toBe(0);
    expect(await store.get(sid)).toMatchObject({ blob: "z".repeat(500_000) });
  });
});

describe("stored metadata carrying a large unknown field", () => {
  it("is decoded on each request but never kept: 40 sessions with 512 KB of it each leave the heap as it was", async () => {
    const gc = exposedGc();
    const store = storeWith();
    const manager = new RelsSessionsManager({ store, applicationName: "Memo" });
    const request = (sid: string, session: Record<string, unknown>) =>
      ({ sessionID: sid, session, ip: "192.0.2.7", headers: { "user-agent": "curl/8.0" } }) as never;
    const stored = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const sid = newSid();
        const session = sessionFor(60_000) as unknown as Record<string, unknown>;
        await manager.recordAuthenticatedRequest(`memo-${i}`, request(sid, session));
        return { sid, user: `memo-${i}`, json: JSON.stringify(session) };
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
    expect(kept).toBeLessThan(8 * 1024 * 1024);
  });
});

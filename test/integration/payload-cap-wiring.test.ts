/**
 * A store's own `maxPayloadBytes` bounds the uncompressed size of what it writes and how far
 * it inflates what it reads. Needs the store to hand its cap to the serializer
 * (`resolveSerializer(serializer, { compressThreshold, maxPayloadBytes })`); until it does,
 * the serializer applies its default (1 MiB) and these fail.
 */
import { keysOf } from "../support/internals.js";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore, SessionPayloadTooLargeError } from "../../src/index.js";

const url = inject("redisUrl");
const clients: Redis[] = [];
const inspector = new Redis(url);
const CAP = 4096;

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await inspector.quit();
});

function storeWith(options: ConstructorParameters<typeof RelsRedisStore>[0] = {}): RelsRedisStore {
  const client = new Redis(url);
  clients.push(client);
  return new RelsRedisStore({ namespace: `t-${randomUUID()}`, ...options, client });
}

const newSid = (): string => randomBytes(24).toString("base64url");
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

function sessionOf(blob: string): SessionData {
  return {
    cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000), httpOnly: true, path: "/" },
    blob,
  } as unknown as SessionData;
}

describe(`a store's own maxPayloadBytes (${CAP}) reaches its serializer`, () => {
  it("with compression on, refuses a session over the cap before compression, writing nothing", async () => {
    const store = storeWith({ compressThreshold: 64, maxPayloadBytes: CAP });
    const sid = newSid();
    // Compresses to ~100 bytes: under the cap only if the cap were applied after compression.
    await expect(store.set(sid, sessionOf("z".repeat(2 * CAP)))).rejects.toBeInstanceOf(SessionPayloadTooLargeError);
    expect(await inspector.exists(keysOf(store).session(sha256(sid)))).toBe(0);
  });

  it("reads a compressed payload over the cap as a miss, even with compression off", async () => {
    const store = storeWith({ maxPayloadBytes: CAP });
    const sid = newSid();
    const key = keysOf(store).session(sha256(sid));
    const json = JSON.stringify({ cookie: { originalMaxAge: 60_000 }, blob: "a".repeat(2 * CAP) });
    await inspector.hset(key, "d", Buffer.concat([Buffer.of(0), deflateRawSync(json)]));
    await inspector.pexpire(key, 60_000);
    expect(await store.get(sid)).toBeNull();
    // Under the cap it reads: the miss above is the cap's.
    const small = newSid();
    const smallKey = keysOf(store).session(sha256(small));
    const fits = JSON.stringify({ cookie: { originalMaxAge: 60_000 }, blob: "a".repeat(CAP / 2) });
    await inspector.hset(smallKey, "d", Buffer.concat([Buffer.of(0), deflateRawSync(fits)]));
    await inspector.pexpire(smallKey, 60_000);
    expect(await store.get(small)).toMatchObject({ blob: "a".repeat(CAP / 2) });
  });
});

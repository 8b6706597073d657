/**
 * A store's own `maxPayloadBytes` bounds the uncompressed size of what it writes and how far
 * it inflates what it reads. Needs the store to hand its cap to the serializer
 * (`resolveSerializer(serializer, { compressThreshold, maxPayloadBytes })`); until it does,
 * the serializer applies its default (1 MiB) and these fail.
 */
import { keysOf } from "../support/internals.js";
import { storesForThisFile } from "../support/stores.js";
import { newSid, sha256 } from "../support/store-contract.js";
import { deflateRawSync } from "node:zlib";
import type { SessionData } from "express-session";
import { describe, expect, it } from "vitest";
import { SessionPayloadTooLargeError } from "../../src/index.js";

const { inspector, storeWith } = storesForThisFile();
const CAP = 4096;

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
    await expect(store.set(sid, sessionOf("z".repeat(2 * CAP)))).rejects.toBeInstanceOf(
      SessionPayloadTooLargeError,
    );
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

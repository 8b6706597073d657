import { decodeSessionMeta, type SessionMeta } from "./meta.js";
import { sessionHandle } from "./ids.js";
import type { RelsRedisStore } from "./store.js";

/**
 * Every signed-in session's metadata, over every master, one SCAN page (`batchSize`
 * keys) at a time: memory stays bounded by one batch whatever the number of sessions.
 */
export async function* streamSessions(store: RelsRedisStore, batchSize: number): AsyncGenerator<SessionMeta> {
  for await (const hexes of store.scanSessions(batchSize)) {
    const records = await store.readMeta(hexes, { expiry: true });
    for (let i = 0; i < hexes.length; i++) {
      const record = records[i];
      if (!record?.meta) continue;
      const meta = decodeSessionMeta(record.meta, { sessionId: sessionHandle(hexes[i]!), expiresAt: record.expiresAt });
      // The key's TTL follows every touch; the stored `expiresAt` only the last write.
      if (meta) yield { ...meta, expiresAt: record.expiresAt ?? meta.expiresAt };
    }
  }
}

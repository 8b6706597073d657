import { decodeSessionMeta } from "./meta-codec.js";
import type { SessionMeta } from "./meta-schema.js";
import { sessionHandle } from "../ids.js";
import { NEVER_EXPIRES_MS } from "../record/keys.js";
import { CORRUPT } from "../record/records.js";
import { dataLayerOf, type DataLayerStore } from "../record/of-store.js";

/**
 * Every signed-in session's metadata, over every master, one SCAN page (`batchSize`
 * keys) at a time: memory stays bounded by one batch whatever the number of sessions.
 */
export async function* streamSessions(store: DataLayerStore, batchSize: number): AsyncGenerator<SessionMeta> {
  const layer = dataLayerOf(store);
  const { records } = layer;
  for await (const hexes of records.scan(batchSize)) {
    const found = await records.readMany(hexes);
    const now = Date.now();
    for (let i = 0; i < hexes.length; i++) {
      const hex = hexes[i]!;
      const record = found[i];
      if (!record || record === CORRUPT || record.header.index === "") continue;
      // Past its absolute deadline: over, though Redis keeps it a grace for the lifetime sweep.
      if (record.header.deadline > 0 && record.header.deadline <= now) continue;
      // Layout 4: the metadata section alone, the payload never parsed.
      const stored = await layer.storedMeta(hex, record);
      if (stored === null) continue;
      // The header's expiry follows every touch; the metadata's only the last write.
      const expiresAt = new Date(record.header.expiresAt ?? NEVER_EXPIRES_MS);
      const meta = decodeSessionMeta(stored, { sessionId: sessionHandle(hex), expiresAt });
      if (meta) yield { ...meta, expiresAt };
    }
  }
}

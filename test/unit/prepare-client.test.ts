import { describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { ClientSource } from "../../src/redis/client-source.js";
import type { RedisClient } from "../../src/redis/source.js";
import { SessionRecords } from "../../src/record/records.js";
import { Keys } from "../../src/record/keys.js";

/** A client that never connects (nothing here sends a command). */
function idleClient(): Redis {
  return new Redis({ lazyConnect: true, enableOfflineQueue: false });
}

describe("RedisSource#prepare: how the data layer defines its scripts on the plumbing's clients", () => {
  it("runs each hook once per client, however many sources share the app's client", () => {
    const client = idleClient();
    const seen: RedisClient[] = [];
    const hook = (c: RedisClient) => void seen.push(c);
    new ClientSource(client).prepare(hook);
    new ClientSource(client).prepare(hook);
    expect(seen).toEqual([client]);
    client.disconnect();
  });

  it("SessionRecords defines its scripts on the client it is given", () => {
    const client = idleClient();
    expect(typeof (client as unknown as Record<string, unknown>)["relsWrite"]).toBe("undefined");
    new SessionRecords(new ClientSource(client), new Keys("rels:test", "rels:test:"), {
      scanCount: 10,
      maxSessionsPerUser: 0,
      revokedMarkerMs: 86_400_000,
      newSessionWindowMs: 86_400_000,
      plainCopies: false,
      durableRevocation: { mode: "off", timeoutMs: 500 },
    });
    expect(typeof client.relsWrite).toBe("function");
    client.disconnect();
  });
});

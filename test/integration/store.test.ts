import { Redis } from "ioredis";
import { inject } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RedisPool } from "../../src/redis/pool.js";
import { describeStoreContract, type MakeStore } from "../support/store-contract.js";

const url = inject("redisUrl");
const opened: Array<{ close(): Promise<unknown> }> = [];
const inspector = new Redis(url);

async function closeAll() {
  await Promise.all(opened.splice(0).map((c) => c.close()));
}

/** Through the shared pool, as `RelsSession.store()` builds it. */
const pooled =
  (defaults: Partial<Parameters<MakeStore>[0]> = {}): MakeStore =>
  async (options) => {
    const pool = new RedisPool({
      target: { kind: "url", url },
      size: 1,
      acquireTimeoutMs: 5000,
      commandTimeoutMs: 1000,
    });
    opened.push(pool);
    return { store: new RelsRedisStore({ ...defaults, ...options, source: pool }), redis: inspector };
  };

describeStoreContract("standalone, shared pool, defaults", pooled(), closeAll);

describeStoreContract(
  "standalone, the app's own ioredis client",
  async (options) => {
    const client = new Redis(url);
    opened.push({ close: () => client.quit() });
    return { store: new RelsRedisStore({ ...options, client }), redis: inspector };
  },
  closeAll,
);

describeStoreContract("custom prefix (connect-redis style)", async (options) =>
  pooled({ prefix: `${options.namespace}|sess:` })(options),
);

describeStoreContract("msgpack serializer", pooled({ serializer: "msgpack" }), closeAll);

describeStoreContract("json, compressed over 64 bytes", pooled({ compressThreshold: 64 }), async () => {
  await closeAll();
  await inspector.quit();
});

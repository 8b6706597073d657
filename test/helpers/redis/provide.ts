/** Redis for the tests' global setup, the demo and the bench: REDIS_URL → redis-server → Testcontainers. */
import { findOnPath, HOW_TO_GET_REDIS } from "./processes.js";
import { spawnRedisServer } from "./spawn.js";
import type { ProvidedRedis } from "./types.js";

/** REDIS_URL if set → private redis-server from PATH → Testcontainers (if Docker answers) → Error. */
export async function provideRedis(): Promise<ProvidedRedis> {
  const fromEnv = process.env.REDIS_URL?.trim();
  if (fromEnv) {
    // Not ours: never stop, flush or otherwise touch it beyond what tests do with their own keys.
    return { url: fromEnv, source: "env", stop: async () => {} };
  }
  if (findOnPath("redis-server")) {
    const server = await spawnRedisServer();
    return { url: server.url, source: "spawned", stop: () => server.dispose() };
  }
  const container = await startContainer();
  if (container) return container;
  throw new Error(
    `No Redis available: REDIS_URL is not set, redis-server is not on PATH and no Docker engine answers. ${HOW_TO_GET_REDIS}`,
  );
}

async function startContainer(): Promise<ProvidedRedis | undefined> {
  const tc = await import("testcontainers").catch(() => undefined);
  if (!tc) return undefined;
  try {
    await tc.getContainerRuntimeClient(); // throws when no Docker engine answers
  } catch {
    return undefined;
  }
  const container = await new tc.GenericContainer("redis:7-alpine")
    .withCommand(["redis-server", "--save", "", "--appendonly", "no"])
    .withExposedPorts(6379)
    .withWaitStrategy(tc.Wait.forLogMessage("Ready to accept connections"))
    .start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    source: "container",
    stop: async () => {
      await container.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------

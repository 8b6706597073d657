/**
 * Provides one Redis for the whole run (REDIS_URL, else a private redis-server, else
 * Testcontainers; see test/helpers/redis.ts). Tests get its URL with `inject("redisUrl")`.
 */
import type { TestProject } from "vitest/node";
import { provideRedis } from "./helpers/redis.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await provideRedis();
  console.log(`[rels-session tests] Redis: ${redis.source} ${redactUrl(redis.url)}`);
  project.provide("redisUrl", redis.url);
  return async () => {
    await redis.stop();
  };
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

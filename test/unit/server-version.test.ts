/**
 * Which servers the pool accepts (no Redis): the verdict on an `INFO server` reply, and the
 * error that names the version found and the one needed. The wiring (asked once per pool,
 * a real 7.0 server accepted) is in test/integration/ready.test.ts; no older redis-server
 * binary is available to refuse for real.
 */
import { describe, expect, it } from "vitest";
import { RedisConnectionError, RedisUnavailableError, RedisVersionError } from "../../src/index.js";
import { REQUIRED_REDIS_VERSION } from "../../src/redis/server-version.js";
import { versionVerdict } from "../../src/redis/server-version.js";

/** An `INFO server` reply as Redis writes it: a section header, `field:value` lines, CRLF. */
function info(fields: Record<string, string>): string {
  return ["# Server", ...Object.entries(fields).map(([k, v]) => `${k}:${v}`), ""].join("\r\n");
}

describe("versionVerdict", () => {
  it("accepts Redis 7.0 and later", () => {
    for (const version of ["7.0.0", "7.0.15", "7.2.4", "7.4.1", "8.0.2", "10.1.0", "7.0"]) {
      expect(versionVerdict(info({ redis_version: version, redis_mode: "standalone" }))).toEqual({
        found: `Redis ${version}`,
        supported: true,
      });
    }
  });

  it("refuses Redis before 7.0, naming what it found", () => {
    for (const version of ["6.2.14", "6.0.20", "5.0.14", "2.8.24", "6.9.999"]) {
      expect(versionVerdict(info({ redis_version: version }))).toEqual({
        found: `Redis ${version}`,
        supported: false,
      });
    }
  });

  it("names Valkey by its own version (beside the redis_version it keeps for compatibility) and accepts it", () => {
    const reply = info({ redis_version: "7.2.4", server_name: "valkey", valkey_version: "8.0.1" });
    expect(versionVerdict(reply)).toEqual({ found: "Valkey 8.0.1", supported: true });
  });

  it("accepts a reply that names no version, or one it cannot parse, rather than refuse a working server", () => {
    expect(versionVerdict(info({ redis_mode: "standalone" }))).toEqual({
      found: "an unknown version",
      supported: true,
    });
    expect(versionVerdict("")).toEqual({ found: "an unknown version", supported: true });
    expect(versionVerdict(info({ redis_version: "unstable" }))).toEqual({
      found: "Redis unstable",
      supported: true,
    });
  });

  it("reads LF-only replies and ignores other sections' lines", () => {
    expect(versionVerdict("# Server\nredis_version:6.2.6\nredis_git_sha1:00000000\n")).toEqual({
      found: "Redis 6.2.6",
      supported: false,
    });
  });
});

describe("RedisVersionError", () => {
  it("names the address, the version found and the one needed, and is a connection error (503, not 500)", () => {
    const error = new RedisVersionError("cache.internal:6380", "Redis 6.2.14", REQUIRED_REDIS_VERSION);
    expect(REQUIRED_REDIS_VERSION).toBe("7.0");
    expect(error.message).toBe(
      "Cannot connect to Redis at cache.internal:6380: unsupported version (found Redis 6.2.14; rels-session needs Redis 7.0 or later, or Valkey)",
    );
    expect(error).toBeInstanceOf(RedisConnectionError);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(error).toMatchObject({
      name: "RedisVersionError",
      reason: "unsupported version",
      found: "Redis 6.2.14",
      required: "7.0",
      address: "cache.internal:6380",
    });
  });
});

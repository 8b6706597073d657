import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidSessionIdError, privateId } from "../../src/index.js";
import { sessionHandle } from "../../src/ids.js";
import calculateSlot from "cluster-key-slot";
import { escapeGlob, Keys, STATS_SHARDS } from "../../src/record/keys.js";

describe("private ids", () => {
  it("is 2:: + sha256 hex of the sid, as Rack's", () => {
    const sid = "uWkgV5Ly3nN2Bz2f0sRJ8y2GIsq7ZbYc";
    expect(privateId(sid)).toBe(`2::${createHash("sha256").update(sid).digest("hex")}`);
    // Again, from the memo of recent sids: the same answer, and each sid its own.
    expect(privateId(sid)).toBe(`2::${createHash("sha256").update(sid).digest("hex")}`);
    const others = Array.from({ length: 25_000 }, (_, i) => `sid-${i}`);
    const ids = others.map((other) => privateId(other));
    for (const i of [0, 9_999, 10_000, 24_999])
      expect(ids[i]).toBe(`2::${createHash("sha256").update(others[i]!).digest("hex")}`);
    expect(new Set(ids).size).toBe(others.length);
    expect(privateId(sid)).toBe(`2::${createHash("sha256").update(sid).digest("hex")}`);
  });

  it("refuses ids shaped like private ids, empty and oversized ids", () => {
    for (const bad of ["2::abc", "10::x", "0::", "", "x".repeat(257)]) {
      expect(() => privateId(bad)).toThrow(InvalidSessionIdError);
    }
    expect(() => privateId(42 as unknown as string)).toThrow(InvalidSessionIdError);
    // A refused id is refused every time: nothing about it is remembered.
    expect(() => privateId("2::abc")).toThrow(InvalidSessionIdError);
  });

  it("derives an HTML-safe handle that is neither the sid nor the private id", () => {
    const hex = privateId("abc").slice(3);
    const handle = sessionHandle(hex);
    expect(handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(hex).not.toContain(handle);
    expect(sessionHandle(hex)).toBe(handle);
  });
});

describe("keys", () => {
  const keys = new Keys("ns", "ns:");

  it("puts a session and its revocation marker (migration only) in one slot, per session", () => {
    expect(keys.session("ab")).toBe("ns:{2::ab}");
    expect(keys.revoked("ab")).toBe("ns:tomb:{2::ab}");
  });

  it("gives each user their own hash tag, whatever the id holds", () => {
    expect(keys.userIndex("42")).toBe("ns:user:{42}");
    const hostile = keys.userIndex("a}b{c*d?[e] f");
    expect(hostile).toBe("ns:user:{a%7Db%7Bc%2Ad%3F%5Be%5D%20f}");
    expect(keys.userIndex("a*")).not.toBe(keys.userIndex("ab"));
  });

  it("accepts ids with a lone surrogate without meeting any other id", () => {
    const lone = keys.userIndex("x\uD800");
    expect(lone).toMatch(/^ns:user:\{%u[0-9a-f]+\}$/);
    expect(lone).not.toBe(keys.userIndex("x\uFFFD"));
  });

  it("escapes SCAN glob characters", () => {
    expect(escapeGlob("a*b?c[d]e\\f")).toBe("a\\*b\\?c\\[d\\]e\\\\f");
    expect(new Keys("x", "p*:").sessionPattern()).toBe("p\\*:{2::*");
  });

  it("recognises only its own session keys", () => {
    const hex = "a".repeat(64);
    expect(keys.hexOfSessionKey(keys.session(hex))).toBe(hex);
    expect(keys.hexOfSessionKey(keys.revoked(hex))).toBeUndefined();
    expect(keys.hexOfSessionKey("ns:{2::nothex}")).toBeUndefined();
  });

  it("round-trips stats bucket names, in every shard and in 0.2's", () => {
    for (const bucket of keys.statsBucketsOf("Turtle: the app", "ios_app")) {
      expect(keys.parseStatsBucket(bucket)).toEqual({
        applicationName: "Turtle: the app",
        platform: "ios_app",
      });
      const shard = keys.statsShardOf(bucket);
      expect(keys.statsShards()).toContainEqual(shard);
    }
    expect(keys.statsBucketsOf("T", "web").at(-1)).toBe("ns:stats:{stats}:live:T:web");
  });

  it("spreads the stats shards over the slot range: one shard in each sixteenth of it, chosen by the session's hex", () => {
    const slots = keys
      .statsShards()
      .slice(0, STATS_SHARDS)
      .map((shard) => calculateSlot(shard.registry));
    expect(slots.map((slot) => Math.floor(slot / 1024))).toEqual([...Array(STATS_SHARDS).keys()]);
    // Every key of a shard shares its slot; a session's add and remove reach the same shard.
    for (const shard of keys.statsShards()) {
      expect(calculateSlot(shard.updated)).toBe(calculateSlot(shard.registry));
      expect(calculateSlot(shard.deadlines)).toBe(calculateSlot(shard.registry));
    }
    const hexes = Array.from({ length: 1_600 }, (_, i) =>
      createHash("sha256").update(String(i)).digest("hex"),
    );
    const used = new Map<string, number>();
    for (const hex of hexes) {
      const bucket = keys.statsBucket("T", "web", hex);
      expect(keys.statsBucket("T", "web", hex)).toBe(bucket);
      used.set(bucket, (used.get(bucket) ?? 0) + 1);
    }
    expect(used.size).toBe(STATS_SHARDS);
    for (const count of used.values()) expect(count).toBeGreaterThan(50);
  });

  it("reads a record's link back from its filing keys, for any user id, and nothing from another scope's", () => {
    const keys = new Keys("ns", "ns:");
    const hex = createHash("sha256").update("s").digest("hex");
    for (const userId of ["42", "a b{c}*?", "ü/ß:%41", "\ud800lone", "x".repeat(300)]) {
      for (const platform of ["web", "ios_app"] as const) {
        const link = keys.linkOfFiling(keys.userIndex(userId), keys.statsBucket("T: app%", platform, hex));
        expect(link).toEqual({ userId, applicationName: "T: app%", clientPlatform: platform });
      }
    }
    // 0.2's single stats shard still names its link (the next write moves it).
    const legacy = keys.statsBucketsOf("T", "web").at(-1)!;
    expect(keys.linkOfFiling(keys.userIndex("7"), legacy)).toEqual({
      userId: "7",
      applicationName: "T",
      clientPlatform: "web",
    });
    const other = new Keys("ns", "other:");
    const bucket = keys.statsBucket("T", "web", hex);
    expect(keys.linkOfFiling(other.userIndex("7"), bucket)).toBeUndefined();
    expect(keys.linkOfFiling(keys.userIndex("7"), other.statsBucket("T", "web", hex))).toBeUndefined();
    expect(keys.linkOfFiling("ns:user:{%E0%A4%A}", bucket)).toBeUndefined();
    expect(keys.linkOfFiling(keys.userIndex("7"), "ns:stats:{stats-0-42}:live:%E0%A4%A:web")).toBeUndefined();
    expect(keys.linkOfFiling(keys.userIndex("7"), "ns:stats:{stats-0-42}:live:T:toaster")).toBeUndefined();
    expect(keys.linkOfFiling("", "")).toBeUndefined();
    // Text encodeUserId never writes (a raw `*`, `{`, space) names no user.
    for (const raw of ["a*b", "a{b", "a b"])
      expect(keys.linkOfFiling(`ns:user:{${raw}}`, bucket)).toBeUndefined();
  });
});

/**
 * Sids used as plain-sid keys (`<prefix><sid>`) in the migration modes must not name a key
 * of the library's own.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidSessionIdError } from "../../src/errors.js";
import { assertPlainSidSafe, isPlainSidSafe, privateHex } from "../../src/ids.js";
import { Keys } from "../../src/record/keys.js";

describe("assertPlainSidSafe", () => {
  const keys = new Keys("rels:session");
  const hex = privateHex("some-sid");
  /** Sids whose plain key is, or looks like, one of the library's keys. */
  const hostile = [
    `{2::${hex}}`,
    `tomb:{2::${hex}}`,
    "user:{alice}",
    "2:secure_store_enabled",
    "stats:{stats}:buckets",
    "probe",
    "a b",
    "a\tb",
    "a\nb",
    "a\u0000b",
    "a*",
    "%7B",
    "é",
    "",
    "x".repeat(257),
  ];

  it("accepts express-session's sids, uuids and other base64url ids up to 256 characters", () => {
    for (const sid of [
      randomBytes(24).toString("base64url"),
      randomUUID(),
      "abc.DEF_123-xyz",
      "x".repeat(256),
      "probes",
    ]) {
      expect(() => assertPlainSidSafe(sid)).not.toThrow();
      expect(isPlainSidSafe(sid)).toBe(true);
    }
  });

  it("refuses sids whose plain key could be a key of the library's own", () => {
    // The collision this prevents: the plain key of these sids IS a library key.
    expect(keys.legacy(`{2::${hex}}`)).toBe(keys.session(hex));
    expect(keys.legacy(`tomb:{2::${hex}}`)).toBe(keys.revoked(hex));
    expect(keys.legacy("2:secure_store_enabled")).toBe(keys.migrationFlag());
    expect(keys.legacy("user:{alice}")).toBe(keys.userIndex("alice"));
    expect(keys.legacy("stats:{stats}:buckets")).toBe(keys.statsShards().at(-1)!.registry);
    // The breaker's probe key (`<namespace>:probe`, RelsSession.configure) under the default prefix.
    expect(keys.legacy("probe")).toBe("rels:session:probe");
    for (const sid of hostile) {
      expect(() => assertPlainSidSafe(sid), JSON.stringify(sid)).toThrow(InvalidSessionIdError);
      expect(isPlainSidSafe(sid), JSON.stringify(sid)).toBe(false);
    }
    expect(() => assertPlainSidSafe(42)).toThrow(InvalidSessionIdError);
  });

  it("never puts the sid in its message", () => {
    const sid = "user:{secret-sid-value}";
    expect(() => assertPlainSidSafe(sid)).toThrow(InvalidSessionIdError);
    try {
      assertPlainSidSafe(sid);
    } catch (error) {
      expect((error as Error).message).not.toContain("secret-sid-value");
    }
  });
});

/** ISO-8601 text written and read in JavaScript, against what Date writes and reads. */
import { describe, expect, it } from "vitest";
import { isoMs, isoString } from "../../src/record/codec/iso-time.js";

/** 100,000 instants spread over 1970–9999, from a fixed-seed Lehmer generator: the same every run. */
function* instants(seed: number): Generator<number> {
  for (let i = 0; i < 100_000; i++) {
    seed = (seed * 48_271) % 2_147_483_647;
    yield Math.floor((seed / 2_147_483_647) * 253_402_300_800_000);
  }
}

describe("isoString", () => {
  it("writes what Date#toISOString writes, from 1970 to the year 9999 and past both ends", () => {
    const edges = [
      0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, 951_782_400_000 /* 2000-02-29 */, 951_868_800_000,
      4_107_542_400_000 /* 2100-03-01 */, 4_107_456_000_000, 253_402_300_799_999, 253_402_300_800_000,
      8.64e15, -1, -86_400_001, 1.5,
    ];
    for (const ms of edges) expect(isoString(ms), String(ms)).toBe(new Date(ms).toISOString());
    const mismatches: number[] = [];
    for (const ms of instants(7)) if (isoString(ms) !== new Date(ms).toISOString()) mismatches.push(ms);
    expect(mismatches).toEqual([]);
  });
});

describe("isoMs", () => {
  it("reads what Date reads, for the text toISOString writes and for text it does not", () => {
    const texts = [
      "1970-01-01T00:00:00.000Z",
      "2000-02-29T23:59:59.999Z",
      "2100-02-28T12:00:00.000Z",
      "9999-12-31T23:59:59.999Z",
      // Impossible dates, another form, or text that is not a date: left to Date.
      "2026-02-29T00:00:00.000Z",
      "2100-02-29T00:00:00.000Z",
      "2026-04-31T00:00:00.000Z",
      "2026-13-01T00:00:00.000Z",
      "2026-00-10T00:00:00.000Z",
      "2026-12-31T24:00:00.000Z",
      "2026-12-31T23:60:00.000Z",
      "2026-12-31T23:59:60.000Z",
      "1969-12-31T23:59:59.999Z",
      "2026-12-31 23:59:59.999Z",
      "2026-12-31T23:59:59.999+",
      "2026-1a-31T23:59:59.999Z",
      "2026-12-31T23:59:59.-99Z",
      "+010000-01-01T00:00:00.000Z",
      "2026-12-31T23:59:59Z",
      "Mon, 14 Dec 2026 08:00:00 GMT",
      "",
      "not a date at all, 24 ch",
    ];
    for (const text of texts) expect(isoMs(text), text).toBe(new Date(text).getTime());
    // Instants written by toISOString and read back.
    const mismatches: string[] = [];
    for (const ms of instants(11)) {
      const text = new Date(ms).toISOString();
      if (isoMs(text) !== new Date(text).getTime()) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
  });
});

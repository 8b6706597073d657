/** The shape gate before express-session, given objects no built-in reader would produce. */
import { describe, expect, it } from "vitest";
import { isSessionShaped, isoMs, isoString } from "../../src/express/session-shape.js";

describe("isSessionShaped and own __proto__ keys", () => {
  it("refuses a session or a cookie carrying an own __proto__ (as JSON.parse creates it)", () => {
    const top = JSON.parse('{"cookie":{"originalMaxAge":60000},"__proto__":{"polluted":true}}') as unknown;
    const inCookie = JSON.parse('{"cookie":{"originalMaxAge":60000,"__proto__":{"polluted":true}}}') as unknown;
    expect(Object.hasOwn(top as object, "__proto__")).toBe(true);
    expect(isSessionShaped(top)).toBe(false);
    expect(isSessionShaped(inCookie)).toBe(false);
  });

  it("still accepts an ordinary session", () => {
    expect(isSessionShaped(JSON.parse('{"cookie":{"originalMaxAge":60000,"path":"/"},"userId":"u"}'))).toBe(true);
    expect(isSessionShaped({ cookie: { originalMaxAge: null, expires: new Date(Date.now() + 1000).toISOString() } })).toBe(true);
  });
});

describe("isoString", () => {
  it("writes what Date#toISOString writes, from 1970 to the year 9999 and past both ends", () => {
    const edges = [
      0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, 951_782_400_000 /* 2000-02-29 */, 951_868_800_000, 4_107_542_400_000 /* 2100-03-01 */,
      4_107_456_000_000, 253_402_300_799_999, 253_402_300_800_000, 8.64e15, -1, -86_400_001, 1.5,
    ];
    for (const ms of edges) expect(isoString(ms), String(ms)).toBe(new Date(ms).toISOString());
    // 100,000 instants spread over 1970–9999 (a fixed-seed Lehmer generator: the same every run).
    const mismatches: number[] = [];
    let seed = 7;
    for (let i = 0; i < 100_000; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      const ms = Math.floor((seed / 2_147_483_647) * 253_402_300_800_000);
      if (isoString(ms) !== new Date(ms).toISOString()) mismatches.push(ms);
    }
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
    // 100,000 instants over 1970–9999, written by toISOString and read back (same generator as above).
    const mismatches: string[] = [];
    let seed = 11;
    for (let i = 0; i < 100_000; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      const text = new Date(Math.floor((seed / 2_147_483_647) * 253_402_300_800_000)).toISOString();
      if (isoMs(text) !== new Date(text).getTime()) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("express-session's Cookie verdict, remembered", () => {
  const live = Date.now() + 60_000;

  it("gives a cookie the same verdict whatever was read before it", () => {
    // express-session turns maxAge 1e300 into an Invalid Date: refused while expires is null…
    const refused = () => ({ cookie: { originalMaxAge: null, expires: null, maxAge: 1e300 } });
    expect(isSessionShaped(refused(), live)).toBe(false);
    // …accepted when a valid expiry comes after it (it replaces the Invalid Date)…
    expect(isSessionShaped({ cookie: { originalMaxAge: 1000, maxAge: 1e300, expires: new Date(live).toISOString() } }, live)).toBe(true);
    // …and still refused after that was remembered.
    expect(isSessionShaped(refused(), live)).toBe(false);
  });

  it("judges a field read through a getter by the value it judged, so nothing refused is remembered as accepted", () => {
    let reads = 0;
    const changing = {
      originalMaxAge: 1000,
      path: "/",
      get sameSite() {
        return reads++ === 0 ? "bogus" : "lax";
      },
    };
    isSessionShaped({ cookie: changing }, live);
    expect(isSessionShaped({ cookie: { originalMaxAge: 1000, path: "/", sameSite: "bogus" } }, live)).toBe(false);
  });

  it("judges a cookie by its own fields whatever the value of a field express-session ignores (as @fastify/session's originalExpires)", () => {
    const cookie = (n: number) => ({ originalMaxAge: 1000, expires: new Date(live).toISOString(), originalExpires: new Date(live + n).toISOString(), path: "/", sameSite: "bogus-fastify" });
    // Refused each time: the verdict is not remembered for refusals, and the kind match does not accept it.
    expect(isSessionShaped({ cookie: cookie(1) }, live)).toBe(false);
    expect(isSessionShaped({ cookie: { ...cookie(2), sameSite: "lax" } }, live)).toBe(true);
    expect(isSessionShaped({ cookie: cookie(3) }, live)).toBe(false);
    expect(isSessionShaped({ cookie: { ...cookie(4), sameSite: "lax" } }, live)).toBe(true);
  });
});

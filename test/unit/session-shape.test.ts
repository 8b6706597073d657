/** The shape gate before express-session, given objects no built-in reader would produce. */
import { describe, expect, it } from "vitest";
import { isSessionShaped } from "../../src/express/session-shape.js";

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

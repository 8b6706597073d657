/** The shape gate before express-session, given objects no built-in reader would produce. */
import { describe, expect, it } from "vitest";
import { isSessionShaped } from "../../src/record/codec/session-shape.js";

describe("isSessionShaped and own __proto__ keys", () => {
  it("refuses a session or a cookie carrying an own __proto__ (as JSON.parse creates it)", () => {
    const top = JSON.parse('{"cookie":{"originalMaxAge":60000},"__proto__":{"polluted":true}}') as unknown;
    const inCookie = JSON.parse(
      '{"cookie":{"originalMaxAge":60000,"__proto__":{"polluted":true}}}',
    ) as unknown;
    expect(Object.hasOwn(top as object, "__proto__")).toBe(true);
    expect(isSessionShaped(top)).toBe(false);
    expect(isSessionShaped(inCookie)).toBe(false);
  });

  it("still accepts an ordinary session", () => {
    expect(isSessionShaped(JSON.parse('{"cookie":{"originalMaxAge":60000,"path":"/"},"userId":"u"}'))).toBe(
      true,
    );
    expect(
      isSessionShaped({
        cookie: { originalMaxAge: null, expires: new Date(Date.now() + 1000).toISOString() },
      }),
    ).toBe(true);
  });
});

describe("express-session's Cookie verdict, remembered", () => {
  const live = Date.now() + 60_000;

  it("gives a cookie the same verdict whatever was read before it", () => {
    // express-session turns maxAge 1e300 into an Invalid Date: refused while expires is null…
    const refused = () => ({ cookie: { originalMaxAge: null, expires: null, maxAge: 1e300 } });
    expect(isSessionShaped(refused(), live)).toBe(false);
    // …accepted when a valid expiry comes after it (it replaces the Invalid Date)…
    expect(
      isSessionShaped(
        { cookie: { originalMaxAge: 1000, maxAge: 1e300, expires: new Date(live).toISOString() } },
        live,
      ),
    ).toBe(true);
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
    expect(isSessionShaped({ cookie: { originalMaxAge: 1000, path: "/", sameSite: "bogus" } }, live)).toBe(
      false,
    );
  });

  it("judges a cookie by its own fields whatever the value of a field express-session ignores (as @fastify/session's originalExpires)", () => {
    const cookie = (n: number) => ({
      originalMaxAge: 1000,
      expires: new Date(live).toISOString(),
      originalExpires: new Date(live + n).toISOString(),
      path: "/",
      sameSite: "bogus-fastify",
    });
    // Refused each time: the verdict is not remembered for refusals, and the kind match does not accept it.
    expect(isSessionShaped({ cookie: cookie(1) }, live)).toBe(false);
    expect(isSessionShaped({ cookie: { ...cookie(2), sameSite: "lax" } }, live)).toBe(true);
    expect(isSessionShaped({ cookie: cookie(3) }, live)).toBe(false);
    expect(isSessionShaped({ cookie: { ...cookie(4), sameSite: "lax" } }, live)).toBe(true);
  });
});

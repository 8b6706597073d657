/**
 * `sessions.lifetimes` (issue 21): a bad profile, a default or platform naming no profile, a
 * duration written in seconds, or lifetimes with record layout 3 are `ConfigError`s naming the
 * field, from `configure()` and from a manager made by hand. No Redis: nothing connects.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig, type LifetimesOptions } from "../../src/config.js";
import { ConfigError, RelsRedisStore, SessionsManager } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";

const NO_ENV = {};
const base = { applicationName: "Turtle", redisOptions: { url: "redis://127.0.0.1:1/0" } };

/** The issues `configure()` would throw for these lifetimes (and store options). */
function issuesOf(
  lifetimes: unknown,
  store: Record<string, unknown> = {},
): Array<{ path: string; message: string }> {
  try {
    parseConfig({ ...base, store, sessions: { lifetimes } }, NO_ENV);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  return [];
}

const valid: LifetimesOptions = {
  profiles: {
    browser: { absoluteMs: 43_200_000, idleMs: 1_800_000 },
    rememberMe: { absoluteMs: 2_592_000_000 },
  },
  default: "browser",
  platforms: { ios_app: "rememberMe" },
};

// Never connected (lazyConnect); an unreachable loopback port all the same.
const client = new Redis("redis://127.0.0.1:1", { lazyConnect: true });
afterAll(() => client.disconnect());

describe("sessions.lifetimes", () => {
  it("takes named profiles, a default and per-platform names; absent means no lifetimes", () => {
    expect(parseConfig({ ...base, sessions: { lifetimes: valid } }, NO_ENV).sessions.lifetimes).toEqual(
      valid,
    );
    expect(parseConfig(base, NO_ENV).sessions.lifetimes).toBeUndefined();
  });

  it('a lifetime too long for a date ("forever": Number.MAX_SAFE_INTEGER) names its field; 10 years pass', () => {
    const forever = { profiles: { browser: { absoluteMs: Number.MAX_SAFE_INTEGER } }, default: "browser" };
    expect(issuesOf(forever)).toEqual([
      {
        path: "sessions.lifetimes.profiles.browser.absoluteMs",
        message: expect.stringContaining("at most") as string,
      },
    ]);
    const idle = { profiles: { browser: { absoluteMs: 43_200_000, idleMs: 1e15 } }, default: "browser" };
    expect(issuesOf(idle).map((i) => i.path)).toEqual(["sessions.lifetimes.profiles.browser.idleMs"]);
    const tenYears = { profiles: { browser: { absoluteMs: 10 * 365 * 86_400_000 } }, default: "browser" };
    expect(issuesOf(tenYears)).toEqual([]);
  });

  it("a default or a platform naming no profile names that field and the profiles there are", () => {
    expect(issuesOf({ ...valid, default: "browsr" })).toEqual([
      {
        path: "sessions.lifetimes.default",
        message: expect.stringContaining(
          'one of the profiles (browser, rememberMe); "browsr" is not one',
        ) as string,
      },
    ]);
    expect(issuesOf({ ...valid, platforms: { android_app: "mobile" } }).map((i) => i.path)).toEqual([
      "sessions.lifetimes.platforms.android_app",
    ]);
    expect(issuesOf({ ...valid, platforms: { windows_phone: "browser" } })).toEqual([
      {
        path: "sessions.lifetimes.platforms",
        message: expect.stringContaining('Unrecognized key: "windows_phone"') as string,
      },
    ]);
  });

  it("durations in ms with a floor: seconds are caught, with the value meant", () => {
    expect(issuesOf({ profiles: { browser: { absoluteMs: 1_000 } }, default: "browser" })).toEqual([]);
    const [seconds] = issuesOf({ profiles: { browser: { absoluteMs: 20, idleMs: 5 } }, default: "browser" });
    expect(seconds?.path).toBe("sessions.lifetimes.profiles.browser.absoluteMs");
    expect(seconds?.message).toContain("did you mean 20000?");
    expect(
      issuesOf({ profiles: { browser: { absoluteMs: 60_000, idleMs: 5 } }, default: "browser" }).map(
        (i) => i.path,
      ),
    ).toEqual(["sessions.lifetimes.profiles.browser.idleMs"]);
    expect(
      issuesOf({ profiles: { browser: { absoluteMs: 60_000, maxMs: 5 } }, default: "browser" }).map(
        (i) => i.path,
      ),
    ).toEqual(["sessions.lifetimes.profiles.browser"]);
    expect(issuesOf({ profiles: {}, default: "browser" }).map((i) => i.path)).toContain(
      "sessions.lifetimes.profiles",
    );
  });

  it("refuses lifetimes with record layout 3, which cannot hold a deadline", () => {
    expect(issuesOf(valid, { recordLayout: 3 })).toEqual([
      { path: "sessions.lifetimes", message: expect.stringContaining("layout 3 cannot hold") as string },
    ]);
    const layout3 = new RelsRedisStore({ client, namespace: "t-life-cfg", recordLayout: 3 });
    expect(
      () => new RelsSessionsManager({ store: layout3, applicationName: "Turtle", lifetimes: valid }),
    ).toThrow(/lifetimes: expected no lifetimes while store.recordLayout is 3/);
  });

  it("a manager made by hand, or by SessionsManager.for, checks them too", () => {
    const store = new RelsRedisStore({ client, namespace: "t-life-cfg" });
    expect(
      () =>
        new RelsSessionsManager({ store, applicationName: "Turtle", lifetimes: { ...valid, default: "x" } }),
    ).toThrow(/lifetimes\.default/);
    expect(() =>
      SessionsManager.for(store, { applicationName: "Turtle", lifetimes: { ...valid, default: "x" } }),
    ).toThrow(/SessionsManager\.for\.lifetimes\.default/);
    const manager = SessionsManager.for(store, { applicationName: "Turtle", lifetimes: valid });
    expect(SessionsManager.for(store, { applicationName: "Turtle", lifetimes: { ...valid } })).toBe(manager);
    expect(() => SessionsManager.for(store, { applicationName: "Turtle" })).toThrow(
      /one store has one manager/,
    );
  });
});

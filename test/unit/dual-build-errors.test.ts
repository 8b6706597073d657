/**
 * Error classes across the two builds: an error thrown by the CommonJS build is `instanceof`
 * the ESM build's class (and the other way round), for every exported error class and each
 * of its ancestors, and of no unrelated class. Against dist/, as users load it.
 */
import { describe, expect, it } from "vitest";
import * as source from "../../src/errors.js";
import { bothBuilds, type PublicApi } from "../support/dist.js";

type ErrorClass = new (...args: never[]) => Error;

/** Every error class src/errors.ts exports, by name. */
const errorNames = Object.entries(source)
  .filter(([, value]) => typeof value === "function" && value.prototype instanceof Error)
  .map(([name]) => name)
  .sort();

/** One instance of the error class `name` of `build`, made as the library makes it. */
function make(build: PublicApi, name: string): Error {
  switch (name) {
    case "ConfigError":
      return new build.ConfigError([{ path: "redisOptions.url", message: "expected a URL" }]);
    case "SessionPayloadTooLargeError":
      return new build.SessionPayloadTooLargeError(2_000_000, 1_048_576);
    case "RedisConnectionError":
      return new build.RedisConnectionError("127.0.0.1:1", "connection refused", "ECONNREFUSED");
    case "RevocationNotReplicatedError":
      return new build.RevocationNotReplicatedError(1, 500);
    default:
      // The rest take a message, as RelsSessionError does.
      return new (classOf(build, name) as unknown as new (message: string) => Error)(`a ${name}`);
  }
}

function classOf(build: PublicApi, name: string): ErrorClass {
  const type = (build as unknown as Record<string, unknown>)[name];
  if (typeof type !== "function") throw new Error(`the build does not export ${name}`);
  return type as ErrorClass;
}

/** Whether `name` is `ancestor` or a subclass of it, as the source declares them. */
function isA(name: string, ancestor: string): boolean {
  const sub = (source as Record<string, unknown>)[name] as ErrorClass;
  const base = (source as Record<string, unknown>)[ancestor] as ErrorClass;
  return sub === base || Object.prototype.isPrototypeOf.call(base.prototype, sub.prototype);
}

describe("error classes across the ESM and CommonJS builds", () => {
  it("finds every exported error class in both builds", async () => {
    const { cjs, esm } = await bothBuilds();
    expect(errorNames).toEqual([
      "ConfigError",
      "InvalidSessionIdError",
      "NotConfiguredError",
      "RedisConnectionError",
      "RedisUnavailableError",
      "RedisVersionError",
      "RelsSessionError",
      "RevocationNotReplicatedError",
      "SerializerUnavailableError",
      "SessionPayloadTooLargeError",
      "SessionWriteRefusedError",
      "StoreReconfiguredError",
    ]);
    for (const name of errorNames) {
      // Two copies of each class (that is the point of this file).
      expect(classOf(cjs, name), name).not.toBe(classOf(esm, name));
    }
  });

  for (const [from, to] of [
    ["cjs", "esm"],
    ["esm", "cjs"],
  ] as const) {
    it(`an error of the ${from} build is instanceof the ${to} build's class and its ancestors, and of no other`, async () => {
      const builds = await bothBuilds();
      for (const name of errorNames) {
        const error = make(builds[from], name);
        expect(error.name).toBe(name);
        for (const other of errorNames) {
          expect(
            error instanceof classOf(builds[to], other),
            `${from} ${name} instanceof ${to} ${other}`,
          ).toBe(isA(name, other));
        }
        expect(error instanceof Error).toBe(true);
      }
    });
  }

  it("keeps the ordinary check for an app's subclass, and refuses plain errors", async () => {
    const { cjs, esm } = await bothBuilds();
    class AppConfigError extends esm.ConfigError {}
    const mine = new AppConfigError([]);
    expect(mine instanceof cjs.ConfigError).toBe(true);
    expect(mine instanceof cjs.RelsSessionError).toBe(true);
    expect(new cjs.ConfigError([]) instanceof AppConfigError).toBe(false);
    expect(new Error("plain") instanceof cjs.RelsSessionError).toBe(false);
    expect((null as unknown) instanceof cjs.RelsSessionError).toBe(false);
    expect(Object.create(null) instanceof esm.ConfigError).toBe(false);
  });
});

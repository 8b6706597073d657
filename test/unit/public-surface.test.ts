/**
 * The public barrel's runtime exports, pinned (issue 19 item 4): what README.md and docs/ teach
 * and the names the original gem exposed. Adding or removing a name is a decision: change
 * this list, src/index.ts's header comment and the CHANGELOG together.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import * as source from "../../src/index.js";
import type {
  CloseOnRevokeOptions,
  ConnectionCloseReason,
  EventStreamResponse,
  RevocableConnection,
  RevocationEvent,
  RevocationListener,
  RevocationReason,
  SessionRevokedEvent,
  SessionsClearedEvent,
  SocketIoSocketLike,
  WebSocketLike,
} from "../../src/index.js";
import { bothBuilds } from "../support/dist.js";

const PUBLIC_VALUES = [
  "ConfigError",
  "InvalidSessionIdError",
  "NotConfiguredError",
  "OUTAGE_WARNING_CODES",
  "RedisConnectionError",
  "RedisUnavailableError",
  "RedisVersionError",
  "RelsRedisStore",
  "RelsSession",
  "RelsSessionError",
  "RevocationNotReplicatedError",
  "SerializerUnavailableError",
  "SessionPayloadTooLargeError",
  "SessionStoreConfigSchema",
  "SessionWriteRefusedError",
  "SessionsManager",
  "StoreReconfiguredError",
  "UserSessions",
  "createRelsSession",
  "describeDevice",
  "describeSession",
  "privateId",
  "redisErrorHandler",
  "requireSession",
  "sessionIdOfRequest",
  "sessionMetaSchema",
];

const exported = (module: object): string[] =>
  Object.keys(module)
    .filter((name) => name !== "default")
    .sort();

describe("the public barrel", () => {
  it("src/index.ts exports exactly the public values", () => {
    expect(exported(source)).toEqual(PUBLIC_VALUES);
  });

  it("exports the revocation events' types (issue 21; types only, checked by tsc in npm run lint)", () => {
    expectTypeOf<RevocationReason>().toEqualTypeOf<
      "destroy" | "logout" | "cap" | "clear" | "cli" | "lifetime"
    >();
    expectTypeOf<RevocationEvent>().toEqualTypeOf<SessionRevokedEvent | SessionsClearedEvent>();
    expectTypeOf<RevocationListener>().parameter(0).toEqualTypeOf<RevocationEvent>();
    expectTypeOf<RevocableConnection>().toEqualTypeOf<
      EventStreamResponse | WebSocketLike | SocketIoSocketLike
    >();
    expectTypeOf<ConnectionCloseReason>().toEqualTypeOf<RevocationReason | "gone" | "deadline">();
    expectTypeOf<CloseOnRevokeOptions["closeCode"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf(source.SessionsManager.onRevoked).returns.toEqualTypeOf<() => void>();
    expectTypeOf(source.SessionsManager.closeOnRevoke).returns.toEqualTypeOf<() => void>();
  });

  it("the built package exports the same, in both builds", async () => {
    const { cjs, esm } = await bothBuilds();
    expect(exported(esm)).toEqual(PUBLIC_VALUES);
    expect(exported(cjs)).toEqual(PUBLIC_VALUES);
  });
});

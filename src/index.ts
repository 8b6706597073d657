/**
 * The public API: what README.md and docs/ teach, plus the names the original gem exposed
 * (`RelsSession`, `RelsRedisStore`, `SessionsManager`, `SessionStoreConfigSchema`,
 * `sessionMetaSchema`, `UserSessions`). test/unit/public-surface.test.ts pins the list.
 * Revocation events (docs/revocation-events.md) add types only: `onRevoked` and
 * `closeOnRevoke` are methods of a manager, an instance and `SessionsManager`.
 *
 * Deliberately left out (import them from their module inside the repository; none is a promise):
 * - DEFAULTS, DURATION_FLOORS_MS, DURATION_CEILING_S, parseConfig and the sub-schemas of the
 *   configuration (redis, pool, store, sessions, connection, TLS): SessionStoreConfigSchema
 *   validates and documents the whole; docs/configuration.md lists every default.
 * - the metadata schema's parts (enums, caps, encode/decode), requestMetadata,
 *   detectClientPlatform, UNKNOWN_DEVICE_LABEL: how the manager builds a SessionMeta;
 *   sessionMetaSchema and describeSession/describeDevice are what apps read it with.
 * - META_FIELD, sessionHandle: the stored record's layout and log handles, the data layer's.
 * - CHANNEL_NAMES, STORE_OPERATIONS and the channels' context types: docs/metrics.md gives the
 *   channel names as strings, the contract a subscriber holds on to.
 * - REQUIRED_REDIS_VERSION, the requireSession/redisErrorHandler option schemas.
 * - RevocationFeed, watchConnection and the event's wire format: how onRevoked and
 *   closeOnRevoke work, the data layer's.
 * - RelsSessionsManager and SessionStats as values: apps get them from SessionsManager.for(store),
 *   an instance's `manager` and `stats`; their types are exported for annotations.
 *
 * Lifetimes and freshness (issue 21) add no value: `sessions.lifetimes` is a setting, and
 * `markFresh`, `freshness` and `requireFreshSession` are methods of the manager (and of
 * `SessionsManager`); their option and result types are exported below. Left out: the
 * freshness options' zod schema and the helpers behind the middleware (users/freshness.ts).
 */
export { RelsSession, SessionsManager } from "./rels-session.js";
export { createRelsSession } from "./instance.js";
export type { RelsSessionInstance, CreateRelsSessionOptions } from "./instance.js";
export { requireSession, redisErrorHandler } from "./express/require-session.js";
export type {
  RequireSessionOptions,
  RedisErrorHandlerOptions,
  SessionCheck,
  StoreErrorCheck,
} from "./express/require-session.js";
export type {
  RequestAccepting,
  SessionStoreBase,
  StoreSession,
  UnavailableResponse,
} from "./express/session-types.js";
export type { SessionCookie, SessionData } from "./record/session-data.js";
export type { Logger, NextHandler } from "./types.js";
export { OUTAGE_WARNING_CODES } from "./redis/outage-warnings.js";
export type { StoreManagerOptions } from "./users/store-managers.js";
export { RelsRedisStore } from "./express/store.js";
export type { RelsRedisStoreOptions, StoredSession } from "./express/store.js";
export { sessionIdOfRequest } from "./users/manager-types.js";
export type { RelsSessionsManager } from "./users/manager.js";
export type {
  ActiveSession,
  RecordOptions,
  SessionRequest,
  SessionsManagerOptions,
  TrackedRequest,
  TrackSessionsOptions,
} from "./users/manager-types.js";
export { UserSessions } from "./users/user-sessions.js";
export type { UserRef, IndexEntry, IndexedSession } from "./users/user-sessions.js";
export type { SessionStats, StatsTotals, ReconcileOptions } from "./stats/stats.js";
export { SessionStoreConfigSchema } from "./config.js";
export type {
  SessionStoreConfig,
  SessionStoreConfigInput,
  ResolvedConfig,
  ConnectionOptions,
  TlsOptions,
  LifetimesOptions,
  LifetimeProfile,
} from "./config.js";
export type {
  Freshness,
  RequireFreshSessionOptions,
  StaleResponse,
  StaleSessionBody,
  StaleSessionHandler,
} from "./users/freshness.js";
export { sessionMetaSchema } from "./users/meta-schema.js";
export type {
  SessionMeta,
  ClientPlatform,
  SessionKeyType,
  DeviceType,
  Software,
  AppInfo,
} from "./users/meta-schema.js";
export { describeDevice } from "./users/device.js";
export type { DeviceMetadata } from "./users/device.js";
export { describeSession } from "./users/describe.js";
export type { DescribableSession } from "./users/describe.js";
export type { SignInEvent, SignInListener } from "./users/sign-in-events.js";
export type {
  RevocationEvent,
  RevocationListener,
  RevocationReason,
  SessionRevokedEvent,
  SessionsClearedEvent,
} from "./record/revocation-feed.js";
export type {
  CloseOnRevokeOptions,
  ConnectionCloseReason,
  EventStreamResponse,
  RevocableConnection,
  SocketIoSocketLike,
  WebSocketLike,
} from "./users/close-on-revoke.js";
export { privateId } from "./ids.js";
export type { Serializer, TextSerializer, SerializerName } from "./record/codec/serializer.js";
export {
  RelsSessionError,
  ConfigError,
  RedisUnavailableError,
  RedisConnectionError,
  RedisVersionError,
  SessionPayloadTooLargeError,
  InvalidSessionIdError,
  SerializerUnavailableError,
  NotConfiguredError,
  StoreReconfiguredError,
  RevocationNotReplicatedError,
  SessionWriteRefusedError,
} from "./errors.js";
export type { ConfigIssue, ConnectFailureReason } from "./errors.js";

export { RelsSession, SessionsManager } from "./rels-session.js";
export { createRelsSession } from "./instance.js";
export type { RelsSessionInstance, CreateRelsSessionOptions } from "./instance.js";
export { requireSession, requireSessionOptionsSchema, redisErrorHandler, redisErrorHandlerOptionsSchema } from "./express/require-session.js";
export type { RequireSessionOptions, RedisErrorHandlerOptions, SessionCheck, StoreErrorCheck } from "./express/require-session.js";
export type { RequestAccepting, SessionStoreBase, StoreSession, UnavailableResponse } from "./express/session-types.js";
export type { SessionCookie, SessionData } from "./record/session-data.js";
export type { Logger, NextHandler } from "./types.js";
export { OUTAGE_WARNING_CODES } from "./redis/outage-warnings.js";
export { REQUIRED_REDIS_VERSION } from "./redis/server-version.js";
export type { StoreManagerOptions } from "./users/store-managers.js";
export { CHANNEL_NAMES, STORE_OPERATIONS } from "./observability/channels.js";
export type {
  StoreOperation,
  StoreOperationContext,
  RevocationKind,
  RevocationContext,
  BreakerStateMessage,
} from "./observability/channels.js";
export type { BreakerState } from "./redis/breaker.js";
export { RelsRedisStore } from "./express/store.js";
export type { RelsRedisStoreOptions, StoredSession } from "./express/store.js";
export { RelsSessionsManager, sessionIdOfRequest } from "./users/manager.js";
export type { ActiveSession, RecordOptions, SessionRequest, SessionsManagerOptions, TrackedRequest, TrackSessionsOptions } from "./users/manager.js";
export { UserSessions } from "./users/user-sessions.js";
export type { UserRef, IndexEntry, IndexedSession } from "./users/user-sessions.js";
export { SessionStats } from "./stats/stats.js";
export type { StatsTotals, ReconcileOptions } from "./stats/stats.js";
export {
  SessionStoreConfigSchema,
  redisOptionsSchema,
  connectionPoolOptionsSchema,
  storeOptionsSchema,
  sessionsOptionsSchema,
  connectionOptionsSchema,
  tlsOptionsSchema,
  parseConfig,
  DEFAULTS,
  DURATION_FLOORS_MS,
  DURATION_CEILING_S,
} from "./config.js";
export type { SessionStoreConfig, SessionStoreConfigInput, ResolvedConfig, ConnectionOptions, TlsOptions } from "./config.js";
export {
  sessionMetaSchema,
  clientPlatformSchema,
  CLIENT_PLATFORMS,
  SESSION_KEY_TYPES,
  META_FIELD_CAPS,
  DEVICE_TYPES,
  deviceTypeSchema,
  softwareSchema,
  decodeSessionMeta,
  encodeSessionMeta,
} from "./users/meta-schema.js";
export type { SessionMeta, ClientPlatform, SessionKeyType, DeviceType, Software, AppInfo } from "./users/meta-schema.js";
export { requestMetadata } from "./users/meta-request.js";
export type { RequestLike, RequestMetadata } from "./users/meta-request.js";
export { detectClientPlatform, describeDevice } from "./users/device.js";
export type { DeviceMetadata } from "./users/device.js";
export { describeSession, UNKNOWN_DEVICE_LABEL } from "./users/describe.js";
export type { DescribableSession } from "./users/describe.js";
export type { SignInEvent, SignInListener } from "./users/sign-in-events.js";
export { privateId, sessionHandle } from "./ids.js";
export { META_FIELD } from "./record/keys.js";
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

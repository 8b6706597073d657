export { RelsSession, SessionsManager } from "./rels-session.js";
export { RelsRedisStore } from "./store.js";
export type { RelsRedisStoreOptions, Logger, StoredSession } from "./store.js";
export { RelsSessionsManager } from "./manager.js";
export type { ActiveSession, RecordOptions, SessionsManagerOptions } from "./manager.js";
export { UserSessions } from "./user-sessions.js";
export type { UserRef, IndexEntry, IndexedSession } from "./user-sessions.js";
export { SessionStats } from "./stats.js";
export type { StatsTotals, ReconcileOptions } from "./stats.js";
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
} from "./config.js";
export type { SessionStoreConfig, SessionStoreConfigInput, ResolvedConfig, ConnectionOptions, TlsOptions } from "./config.js";
export {
  sessionMetaSchema,
  clientPlatformSchema,
  CLIENT_PLATFORMS,
  SESSION_KEY_TYPES,
  META_FIELD_CAPS,
  requestMetadata,
  detectClientPlatform,
  decodeSessionMeta,
  encodeSessionMeta,
} from "./meta.js";
export type { SessionMeta, ClientPlatform, SessionKeyType, RequestLike, RequestMetadata } from "./meta.js";
export { privateId, sessionHandle } from "./ids.js";
export { META_FIELD } from "./keys.js";
export type { Serializer, TextSerializer, SerializerName } from "./serializer.js";
export {
  RelsSessionError,
  ConfigError,
  RedisUnavailableError,
  RedisConnectionError,
  SessionPayloadTooLargeError,
  InvalidSessionIdError,
  SerializerUnavailableError,
  NotConfiguredError,
} from "./errors.js";
export type { ConfigIssue, ConnectFailureReason } from "./errors.js";

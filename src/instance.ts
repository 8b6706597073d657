import { parseConfig, type ResolvedConfig, type SessionStoreConfigInput } from "./config.js";
import { RelsSessionsManager } from "./users/manager.js";
import type { SessionMeta } from "./users/meta-schema.js";
import { redisErrorHandler, requireSession } from "./express/require-session.js";
import type { BreakerState } from "./redis/breaker.js";
import { RedisPool } from "./redis/pool.js";
import { targetOf } from "./redis/target.js";
import { addressOf } from "./redis/connect-failure.js";
import { warnOnOutage } from "./redis/outage-warnings.js";
import { fileManager } from "./users/store-managers.js";
import { RetirableSource } from "./redis/retirable-source.js";
import { SessionStats, type ReconcileOptions, type StatsTotals } from "./stats/stats.js";
import { RelsRedisStore } from "./express/store.js";
import type { Logger } from "./types.js";
import { streamSessions } from "./users/stream.js";
import type { RevocationListener } from "./record/revocation-feed.js";
import type { CloseOnRevokeOptions, RevocableConnection } from "./users/close-on-revoke.js";
import type { SessionRequest } from "./users/manager-types.js";

/** What `createRelsSession` takes besides the configuration. */
export interface CreateRelsSessionOptions {
  /**
   * pino-compatible logger given to the store (told, without the sid, of corrupt sessions)
   * and told once per Redis outage and once on recovery; without one (here or as
   * `store.logger`), those two go to `process.emitWarning` (codes `RELS_SESSION_REDIS_DOWN`,
   * `RELS_SESSION_REDIS_RECOVERED`).
   */
  logger?: Logger;
  /** Where `RELS_SESSION_*` overrides are read. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Tell each Redis outage and recovery once (to the logger, else as process warnings).
   * `false` for a program that reports its own errors (the CLI). @default true
   */
  outageWarnings?: boolean;
}

/**
 * One configuration of rels-session: its pool, store, manager and stats. Apps with two
 * Redis deployments, and tests, make one each with `createRelsSession`; `RelsSession` is
 * the process-wide default instance.
 */
export interface RelsSessionInstance {
  /** The validated configuration. */
  readonly config: ResolvedConfig;
  /** Pass it to `session({ store })`. */
  readonly store: RelsRedisStore;
  /** record / list / revoke. */
  readonly manager: RelsSessionsManager;
  /** Live counters: `stats.totals()` is one round trip. */
  readonly stats: SessionStats;
  /** The pool's circuit breaker: `closed` while Redis answers. */
  readonly breakerState: BreakerState;
  /** Rescan every session and rebuild the counters; returns the new totals. */
  reconcileStats(options?: ReconcileOptions): Promise<StatsTotals>;
  /** Every signed-in session's metadata, in batches (default `RELS_SESSION_SCAN_COUNT`). */
  streamSessions(options?: { batchSize?: number }): AsyncGenerator<SessionMeta>;
  /**
   * Call `listener` on every revocation of a session of this instance's store, from any
   * process (see `RelsSessionsManager#onRevoked`); returns the function that unsubscribes.
   */
  onRevoked(listener: RevocationListener): () => void;
  /**
   * Close an SSE response, `ws` WebSocket or Socket.IO socket when the session of the request
   * that opened it is revoked, by any process (see `RelsSessionsManager#closeOnRevoke`).
   */
  closeOnRevoke(
    req: Pick<SessionRequest, "session" | "sessionID">,
    connection: RevocableConnection,
    options?: CloseOnRevokeOptions,
  ): () => void;
  /** The 503 middleware (see {@link requireSession}); the same for every instance. */
  readonly requireSession: typeof requireSession;
  /** The error handler turning Redis errors of route handlers into that 503 (see {@link redisErrorHandler}). */
  readonly redisErrorHandler: typeof redisErrorHandler;
  /**
   * Connect, check the server (version, database) and PING: resolves once Redis answers;
   * rejects with a `RedisConnectionError` naming host:port and the reason (never a
   * password). `await sessions.ready()` before `app.listen()` makes a Redis that is down, or
   * a database the server refuses, fail the start instead of the first sign-in.
   */
  ready(): Promise<void>;
  /** Close every connection; the store's later calls fail with `StoreReconfiguredError`. Safe to call twice. */
  close(): Promise<void>;
  /** @internal What the store's calls say from now on; closes the pool (`RelsSession.configure` again). */
  retire(reason: string): Promise<void>;
  /** @internal The store's Redis, for `new RelsRedisStore()` without `client`. */
  readonly source: RetirableSource;
}

const CLOSED_MESSAGE =
  "This rels-session store was closed (close() or RelsSession.close()); configure again and use the new store";

/**
 * Validate `config` (throws `ConfigError` naming each bad field) and set up a pool, store,
 * manager and stats of their own. Connections open on first use.
 *
 * @example
 * ```ts
 * const sessions = createRelsSession({ applicationName: "Turtle", redisOptions: { url } });
 * app.use(session({ store: sessions.store, secret, resave: false, saveUninitialized: false }));
 * app.use(sessions.requireSession());
 * ```
 */
export function createRelsSession(
  config: SessionStoreConfigInput,
  options: CreateRelsSessionOptions = {},
): RelsSessionInstance {
  const resolved = parseConfig(config, options.env);
  const target = targetOf(resolved.redisOptions);
  const pool = new RedisPool({
    target,
    size: resolved.connectionPoolOptions.size,
    acquireTimeoutMs: resolved.connectionPoolOptions.timeout,
    commandTimeoutMs: resolved.redisOptions.commandTimeout,
    probeKey: `${resolved.redisOptions.namespace}:probe`,
  });
  const source = new RetirableSource(pool);
  const { serializer, scanCount, ...storeOptions } = resolved.store;
  // One logger for the whole instance: the one given here, else the store's (`store.logger`).
  const logger = options.logger ?? (resolved.store.logger as Logger | undefined);
  const store = new RelsRedisStore({
    ...storeOptions,
    source,
    namespace: resolved.redisOptions.namespace,
    serializer: serializer ?? resolved.env.RELS_SESSION_SERIALIZER,
    scanCount: scanCount ?? resolved.env.RELS_SESSION_SCAN_COUNT,
    ...(options.logger ? { logger: options.logger } : {}),
  } as ConstructorParameters<typeof RelsRedisStore>[0]);
  const manager = new RelsSessionsManager({
    store,
    applicationName: resolved.applicationName,
    lastSeenInterval: resolved.sessions.lastSeenInterval,
    ...(resolved.sessions.maxSessionsPerUser === undefined
      ? {}
      : { maxSessionsPerUser: resolved.sessions.maxSessionsPerUser }),
    ...(resolved.sessions.lifetimes === undefined ? {} : { lifetimes: resolved.sessions.lifetimes }),
    ...(logger ? { logger } : {}),
  });
  fileManager(store, manager, {
    applicationName: resolved.applicationName,
    lastSeenInterval: resolved.sessions.lastSeenInterval,
    maxSessionsPerUser: resolved.sessions.maxSessionsPerUser,
    lifetimes: resolved.sessions.lifetimes,
  });
  const stats = new SessionStats(store);
  const stopWarnings =
    options.outageWarnings === false ? () => undefined : warnOnOutage(pool, addressOf(target), logger);
  const retire = async (reason: string) => {
    stopWarnings();
    source.retire(reason);
    await source.close();
  };
  return {
    config: resolved,
    store,
    manager,
    stats,
    source,
    get breakerState() {
      return source.breakerState;
    },
    reconcileStats: (reconcileOptions = {}) => stats.reconcile(reconcileOptions),
    streamSessions: (streamOptions = {}) =>
      streamSessions(store, streamOptions.batchSize ?? resolved.env.RELS_SESSION_SCAN_COUNT),
    onRevoked: (listener) => manager.onRevoked(listener),
    closeOnRevoke: (req, connection, closeOptions) => manager.closeOnRevoke(req, connection, closeOptions),
    requireSession,
    redisErrorHandler,
    ready: () => source.ready(),
    close: () => retire(CLOSED_MESSAGE),
    retire,
  };
}

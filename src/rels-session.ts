import { parseConfig, type ResolvedConfig, type SessionStoreConfigInput } from "./config.js";
import { NotConfiguredError } from "./errors.js";
import { RelsSessionsManager } from "./manager.js";
import type { SessionMeta } from "./meta.js";
import { RedisPool } from "./redis/pool.js";
import { targetOf } from "./redis/target.js";
import { SessionStats, type ReconcileOptions, type StatsTotals } from "./stats.js";
import { RelsRedisStore, type Logger } from "./store.js";
import { streamSessions } from "./stream.js";

interface Configured {
  readonly config: ResolvedConfig;
  readonly pool: RedisPool;
  readonly store: RelsRedisStore;
  readonly manager: RelsSessionsManager;
  readonly stats: SessionStats;
}

let current: Configured | undefined;

function configured(): Configured {
  if (!current) throw new NotConfiguredError("Call RelsSession.configure({ applicationName, redisOptions }) first");
  return current;
}

/**
 * The process-wide entry point: one configuration, one pool, one store, one manager.
 *
 * @example
 * ```ts
 * RelsSession.configure({ applicationName: "Turtle", redisOptions: { url: "redis://localhost:6379/4" } });
 * app.use(session({ store: RelsSession.store(), secret, resave: false, saveUninitialized: false }));
 * ```
 */
export const RelsSession = {
  /**
   * Validate `config` (throws `ConfigError` naming each bad field) and set up the shared
   * pool, store and manager. Connections open on first use. Call it once per process:
   * configuring again closes the old pool, and middleware already mounted with the old
   * `store()` or `trackSessions()` keeps using it (tests call `close()` and rebuild the app).
   */
  configure(config: SessionStoreConfigInput, options: { logger?: Logger; env?: NodeJS.ProcessEnv } = {}): void {
    const resolved = parseConfig(config, options.env);
    const pool = new RedisPool({
      target: targetOf(resolved.redisOptions),
      size: resolved.connectionPoolOptions.size,
      acquireTimeoutMs: resolved.connectionPoolOptions.timeout,
      commandTimeoutMs: resolved.redisOptions.commandTimeout,
      probeKey: `${resolved.redisOptions.namespace}:probe`,
    });
    const { serializer, scanCount, ...storeOptions } = resolved.store;
    const store = new RelsRedisStore({
      ...storeOptions,
      source: pool,
      namespace: resolved.redisOptions.namespace,
      serializer: serializer ?? resolved.env.RELS_SESSION_SERIALIZER,
      scanCount: scanCount ?? resolved.env.RELS_SESSION_SCAN_COUNT,
      ...(options.logger ? { logger: options.logger } : {}),
    } as ConstructorParameters<typeof RelsRedisStore>[0]);
    const manager = new RelsSessionsManager({
      store,
      applicationName: resolved.applicationName,
      lastSeenInterval: resolved.sessions.lastSeenInterval,
      ...(resolved.sessions.maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser: resolved.sessions.maxSessionsPerUser }),
    });
    const previous = current;
    current = { config: resolved, pool, store, manager, stats: new SessionStats(store) };
    void previous?.pool.close().catch(() => undefined);
  },

  /** Whether `configure` has run. */
  get isConfigured(): boolean {
    return current !== undefined;
  },

  /** The validated configuration in force. */
  get config(): ResolvedConfig {
    return configured().config;
  },

  /** The one shared store: pass it to `session({ store })`. */
  store(): RelsRedisStore {
    return configured().store;
  },

  /** The shared manager behind `SessionsManager`. */
  manager(): RelsSessionsManager {
    return configured().manager;
  },

  /** Live counters. */
  stats: {
    /** `{ totalSessions, lastUpdatedAt, byApplication, byPlatform }`: one round trip. */
    totals(): Promise<StatsTotals> {
      return configured().stats.totals();
    },
  },

  /** Rescan every session and rebuild the counters; returns the new totals. */
  reconcileStats(options: ReconcileOptions = {}): Promise<StatsTotals> {
    return configured().stats.reconcile(options);
  },

  /** Every signed-in session's metadata, in batches (default `RELS_SESSION_SCAN_COUNT`). */
  streamSessions(options: { batchSize?: number } = {}): AsyncGenerator<SessionMeta> {
    const { store, config } = configured();
    return streamSessions(store, options.batchSize ?? config.env.RELS_SESSION_SCAN_COUNT);
  },

  /** Close every connection (tests, graceful shutdown). `configure` may be called again after. */
  async close(): Promise<void> {
    const closing = current;
    current = undefined;
    await closing?.pool.close();
  },
};

type Manager = RelsSessionsManager;

/**
 * The shared manager's methods, for `SessionsManager.activeSessions(user, { current: req })`.
 * Each call uses the manager of the current `RelsSession.configure()`.
 */
export const SessionsManager = {
  recordAuthenticatedRequest: (...args: Parameters<Manager["recordAuthenticatedRequest"]>) =>
    RelsSession.manager().recordAuthenticatedRequest(...args),
  trackSessions: (...args: Parameters<Manager["trackSessions"]>) => RelsSession.manager().trackSessions(...args),
  activeSessions: (...args: Parameters<Manager["activeSessions"]>) => RelsSession.manager().activeSessions(...args),
  sessionIdOf: (...args: Parameters<Manager["sessionIdOf"]>) => RelsSession.manager().sessionIdOf(...args),
  logoutSession: (...args: Parameters<Manager["logoutSession"]>) => RelsSession.manager().logoutSession(...args),
  logoutSessions: (...args: Parameters<Manager["logoutSessions"]>) => RelsSession.manager().logoutSessions(...args),
  logoutAllSessions: (...args: Parameters<Manager["logoutAllSessions"]>) => RelsSession.manager().logoutAllSessions(...args),
  logoutOtherSessions: (...args: Parameters<Manager["logoutOtherSessions"]>) => RelsSession.manager().logoutOtherSessions(...args),
} as const;

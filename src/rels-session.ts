import type { ResolvedConfig, SessionStoreConfigInput } from "./config.js";
import * as slot from "./default-instance.js";
import { createRelsSession, type CreateRelsSessionOptions, type RelsSessionInstance } from "./instance.js";
import type { RelsSessionsManager } from "./users/manager.js";
import type { SessionRequest, TrackedRequest, TrackSessionsOptions } from "./users/manager-types.js";
import type { SessionMeta } from "./users/meta-schema.js";
import type { RequireFreshSessionOptions, StaleResponse } from "./users/freshness.js";
import { redisErrorHandler, requireSession } from "./express/require-session.js";
import { managerOf, type StoreManagerOptions } from "./users/store-managers.js";
import type { BreakerState } from "./redis/breaker.js";
import type { ReconcileOptions, StatsTotals } from "./stats/stats.js";
import type { RelsRedisStore } from "./express/store.js";

/** The default instance, or undefined before `configure`: only `configure` writes it, with a whole instance. */
function currentInstance(): RelsSessionInstance | undefined {
  return slot.currentInstance() as RelsSessionInstance | undefined;
}

/** The default instance; `NotConfiguredError` before `configure`. */
function defaultInstance(message?: string): RelsSessionInstance {
  return slot.defaultInstance(message) as RelsSessionInstance;
}

function swapDefaultInstance(next: RelsSessionInstance | undefined): RelsSessionInstance | undefined {
  return slot.swapDefaultInstance(next) as RelsSessionInstance | undefined;
}

const RECONFIGURED_MESSAGE =
  "RelsSession was reconfigured: this store belongs to the configuration that RelsSession.configure() replaced, " +
  "and its connections are closed. Mount the session middleware with the new RelsSession.store() " +
  "(configure once per process, or use createRelsSession() for several)";

/**
 * The process-wide default instance of {@link createRelsSession}: one configuration, one
 * pool, one store, one manager. Its state lives on `globalThis`, so the ESM and CommonJS
 * builds of this package share it.
 *
 * @example
 * ```ts
 * RelsSession.configure({ applicationName: "Turtle", redisOptions: { url: "redis://localhost:6379/4" } });
 * app.use(session({ store: RelsSession.store(), secret, resave: false, saveUninitialized: false }));
 * app.use(RelsSession.requireSession());
 * ```
 */
export const RelsSession = {
  /**
   * Validate `config` (throws `ConfigError` naming each bad field) and set up the shared
   * pool, store and manager. Connections open on first use. Call it once per process:
   * configuring again closes the old pool, and a store of the old configuration still
   * mounted somewhere then fails with `StoreReconfiguredError`, which says so.
   */
  configure(config: SessionStoreConfigInput, options: CreateRelsSessionOptions = {}): void {
    const next = createRelsSession(config, options);
    const previous = swapDefaultInstance(next);
    void previous?.retire(RECONFIGURED_MESSAGE).catch(() => undefined);
  },

  /** Whether `configure` has run. */
  get isConfigured(): boolean {
    return currentInstance() !== undefined;
  },

  /** The default instance itself (`{ store, manager, stats, close, … }`). */
  instance(): RelsSessionInstance {
    return defaultInstance();
  },

  /** The validated configuration in force. */
  get config(): ResolvedConfig {
    return defaultInstance().config;
  },

  /** The pool's circuit breaker state (`closed` while Redis answers); undefined before `configure`. */
  get breakerState(): BreakerState | undefined {
    return currentInstance()?.breakerState;
  },

  /** The one shared store: pass it to `session({ store })`. */
  store(): RelsRedisStore {
    return defaultInstance().store;
  },

  /** The shared manager behind `SessionsManager`. */
  manager(): RelsSessionsManager {
    return defaultInstance(slot.NOT_CONFIGURED_FOR_MANAGER_MESSAGE).manager;
  },

  /**
   * Connect, check the server (version, database) and PING: resolves once Redis answers;
   * rejects with a `RedisConnectionError` naming host:port and the reason (never a
   * password), or `NotConfiguredError` before `configure`. One line before `app.listen()`:
   * `await RelsSession.ready()`.
   */
  async ready(): Promise<void> {
    await defaultInstance().ready();
  },

  /**
   * Middleware answering 503 with `Retry-After` while the store is disconnected; mount it
   * right after `session(...)`. See {@link requireSession}.
   */
  requireSession,

  /**
   * Error handler to mount after the routes: the library's Redis errors thrown inside route
   * handlers (`recordAuthenticatedRequest`, `activeSessions`, …) answer the same 503 with
   * `Retry-After` as {@link requireSession}; other errors go on. See {@link redisErrorHandler}.
   */
  redisErrorHandler,

  /** Live counters. */
  stats: {
    /** `{ totalSessions, lastUpdatedAt, byApplication, byPlatform }`: one round trip. */
    totals(): Promise<StatsTotals> {
      return defaultInstance().stats.totals();
    },
  },

  /** Rescan every session and rebuild the counters; returns the new totals. */
  reconcileStats(options: ReconcileOptions = {}): Promise<StatsTotals> {
    return defaultInstance().reconcileStats(options);
  },

  /** Every signed-in session's metadata, in batches (default `RELS_SESSION_SCAN_COUNT`). */
  streamSessions(options: { batchSize?: number } = {}): AsyncGenerator<SessionMeta> {
    return defaultInstance().streamSessions(options);
  },

  /** Close every connection (tests, graceful shutdown). `configure` may be called again after. */
  async close(): Promise<void> {
    await swapDefaultInstance(undefined)?.close();
  },
};

type Manager = RelsSessionsManager;

/**
 * The shared manager's methods, for `SessionsManager.activeSessions(user, { current: req })`.
 * Each call uses the manager of the current `RelsSession.configure()`.
 */
export const SessionsManager = {
  /**
   * The manager of `store`, for a store made on the app's own ioredis client
   * (`new RelsRedisStore({ client })`), which `RelsSession.configure()` knows nothing of:
   * made on the first call, the same one after (its `onSignIn` listeners included). For the
   * store of `createRelsSession()`, its own manager.
   *
   * @example
   * ```ts
   * const store = new RelsRedisStore({ client: new Redis(url) });
   * const sessions = SessionsManager.for(store, { applicationName: "Turtle" });
   * await sessions.activeSessions(user, { current: req });
   * ```
   */
  for: (store: RelsRedisStore, options: StoreManagerOptions): RelsSessionsManager =>
    managerOf(store, options),
  recordAuthenticatedRequest: (...args: Parameters<Manager["recordAuthenticatedRequest"]>) =>
    RelsSession.manager().recordAuthenticatedRequest(...args),
  trackSessions: <Req extends SessionRequest = TrackedRequest>(options: TrackSessionsOptions<Req>) =>
    RelsSession.manager().trackSessions(options),
  activeSessions: (...args: Parameters<Manager["activeSessions"]>) =>
    RelsSession.manager().activeSessions(...args),
  activeSessionsPage: (...args: Parameters<Manager["activeSessionsPage"]>) =>
    RelsSession.manager().activeSessionsPage(...args),
  sessionIdOf: (...args: Parameters<Manager["sessionIdOf"]>) => RelsSession.manager().sessionIdOf(...args),
  logoutSession: (...args: Parameters<Manager["logoutSession"]>) =>
    RelsSession.manager().logoutSession(...args),
  logoutSessions: (...args: Parameters<Manager["logoutSessions"]>) =>
    RelsSession.manager().logoutSessions(...args),
  logoutAllSessions: (...args: Parameters<Manager["logoutAllSessions"]>) =>
    RelsSession.manager().logoutAllSessions(...args),
  logoutOtherSessions: (...args: Parameters<Manager["logoutOtherSessions"]>) =>
    RelsSession.manager().logoutOtherSessions(...args),
  onSignIn: (...args: Parameters<Manager["onSignIn"]>) => RelsSession.manager().onSignIn(...args),
  markFresh: (...args: Parameters<Manager["markFresh"]>) => RelsSession.manager().markFresh(...args),
  freshness: (...args: Parameters<Manager["freshness"]>) => RelsSession.manager().freshness(...args),
  requireFreshSession: <Req extends SessionRequest = TrackedRequest, Res = StaleResponse>(
    options: RequireFreshSessionOptions<Req, Res>,
  ) => RelsSession.manager().requireFreshSession<Req, Res>(options),
  onRevoked: (...args: Parameters<Manager["onRevoked"]>) => RelsSession.manager().onRevoked(...args),
  closeOnRevoke: (...args: Parameters<Manager["closeOnRevoke"]>) =>
    RelsSession.manager().closeOnRevoke(...args),
} as const;

import { z } from "zod";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { maskUrlCredentials } from "./redact.js";
import { DEFAULT_NAMESPACE } from "./record/keys.js";
import { CLIENT_PLATFORMS } from "./record/platforms.js";
import { TUNABLES } from "./tunables.js";

/**
 * Settings of `RelsSession.configure()`, as a zod schema so an app can embed it in its own
 * config validation (`z.object({ sessions: SessionStoreConfigSchema })`).
 */

/**
 * Every default of the settings below, in one place: the schemas read them, and so may the
 * store and the manager (`DEFAULTS.store.scanCount`, `DEFAULTS.sessions.lastSeenInterval`).
 * Durations are in milliseconds unless the name says seconds (the store's, which keep
 * connect-redis's meanings).
 */
export const DEFAULTS = {
  namespace: DEFAULT_NAMESPACE,
  commandTimeout: TUNABLES.pool.commandTimeoutMs,
  connectionPool: { size: TUNABLES.pool.size, timeout: TUNABLES.pool.acquireTimeoutMs },
  sessions: { lastSeenInterval: 60_000 },
  store: {
    ttlSeconds: 86_400,
    scanCount: 50,
    serializer: "json",
    touchAfter: "auto",
    maxPayloadBytes: 1_048_576,
    /**
     * A bound on any one user's sessions, so a scripted client signing in without end cannot
     * grow an index (and an account page) without limit; 0 turns it off.
     */
    maxSessionsPerUser: 1000,
    legacyTtlSeconds: 30 * 86_400,
    /** `touchAfter: "auto"`: a tenth of the lifetime, at most an hour. */
    autoTouchFraction: 0.1,
    autoTouchMaxMs: 3_600_000,
    /** A touch throttle never spans more than this much of the lifetime. */
    touchAfterMaxFraction: 0.5,
    durableRevocation: "auto",
    durableRevocationTimeoutMs: 500,
    /** 4: metadata in a section of its own; 3: inside the payload (while processes that cannot read layout 4 still run). */
    recordLayout: 4,
    /**
     * A session this process has not read or written is created only if its cookie was issued
     * within this window; a revocation marker lives at least this long. Together they keep a
     * framework's copy of a revoked session from creating it again, however late it is saved.
     */
    newSessionWindowMs: 86_400_000,
  },
  env: { RELS_SESSION_SCAN_COUNT: 50, RELS_SESSION_SERIALIZER: "json" },
} as const;

/**
 * The smallest value each millisecond duration takes. Below it, the value was almost
 * certainly written in seconds (`timeout: 5`), which would fail only in production.
 */
export const DURATION_FLOORS_MS = {
  commandTimeout: 100,
  connectTimeout: 100,
  connectionPoolTimeout: 100,
  /** 0 turns TCP keep-alive off. */
  keepAlive: 1000,
  /** 0 refreshes `lastSeenAt` on every request. */
  lastSeenInterval: 1000,
  /** A lifetime profile's absolute lifetime and idle timeout. */
  lifetime: 1000,
  /** `requireFreshSession`'s `maxAgeMs`. */
  freshness: 1000,
} as const;

/**
 * The largest value each duration in seconds takes: 10 years (of 365 days). Above it, the
 * value was almost certainly written in milliseconds (`ttl: 14 * 86400000`, 38 years),
 * which Redis would accept without a word. A lifetime in milliseconds is caught from 3.65
 * days (315,360,000 ms); a shorter one cannot be told from a lifetime in seconds.
 */
export const DURATION_CEILING_S = 10 * 365 * 86_400;

/**
 * `base` (a number schema) within its unit's bounds: at least `floor` milliseconds (or
 * exactly 0 when `zeroAllowed`), at most `ceiling` seconds. Past a bound the value was almost
 * certainly written in the other unit: the error names the bound and the value meant.
 */
function duration(
  base: z.ZodNumber,
  bounds: { unit: "ms"; floor: number; zeroAllowed?: boolean } | { unit: "s"; ceiling: number },
) {
  return base.superRefine((value, ctx) => {
    if (bounds.unit === "ms") {
      const { floor, zeroAllowed = false } = bounds;
      if (value >= floor || (zeroAllowed && value === 0)) return;
      const hint =
        value > 0
          ? `; this is in milliseconds: did you mean ${value * 1000}? ${value} s = ${value * 1000} ms`
          : "";
      ctx.addIssue({
        code: "custom",
        message: `expected a duration of at least ${floor} ms${zeroAllowed ? " (or 0)" : ""}${hint}`,
      });
      return;
    }
    if (value <= bounds.ceiling) return;
    const seconds = Math.round(value / 1000);
    ctx.addIssue({
      code: "custom",
      message: `expected a duration of at most ${bounds.ceiling} s (10 years); this is in seconds: did you mean ${seconds}? ${value} ms = ${seconds} s`,
    });
  });
}

/** A duration in milliseconds of at least `floor` (or exactly 0 when `zeroAllowed`). */
function milliseconds(floor: number, zeroAllowed = false) {
  return duration(z.number().int(), { unit: "ms", floor, zeroAllowed });
}

const redisUrl = z
  .string()
  .refine((value) => /^rediss?:\/\/[^\s]*$/.test(value), { message: "expected a redis:// or rediss:// URL" })
  // ioredis parses with WHATWG URL: a password with an unencoded `/`, `?` or `#` makes the
  // URL invalid (and ioredis would throw for every connection attempt).
  .refine((value) => !/^rediss?:\/\//.test(value) || URL.canParse(value), {
    message:
      "expected a URL that parses; percent-encode special characters of the password (/ as %2F, ? as %3F, # as %23), or give it as redisOptions.password",
  });

const hostPort = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65_535) });

/** A PEM text, or its bytes (e.g. `readFileSync("ca.pem")`). */
const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);

/** TLS settings, as Node's `tls.connect` takes them. `rediss://` alone means TLS with the system CAs. */
export const tlsOptionsSchema = z.strictObject({
  /** CA certificate(s) to trust instead of the system ones: a private CA. */
  ca: z.union([pem, z.array(pem).min(1)]).optional(),
  /** Client certificate, for servers that require one (`tls-auth-clients yes`). */
  cert: pem.optional(),
  /** The client certificate's private key. */
  key: pem.optional(),
  /** Host name the server's certificate must name, when it is not the host connected to (SNI). */
  servername: z.string().min(1).optional(),
  /** `false` accepts any certificate: for tests only, never in production. @default true */
  rejectUnauthorized: z.boolean().optional(),
});
export type TlsOptions = z.input<typeof tlsOptionsSchema>;

/**
 * ioredis's `keyPrefix` prefixes command keys but not SCAN patterns or keys built inside Lua:
 * sessions would be invisible to scans and half-prefixed. The namespace does its job.
 */
const noKeyPrefix = z
  .undefined({
    message:
      "keyPrefix is not supported (scans and scripts would not see it): use redisOptions.namespace or store.prefix",
  })
  .optional();

/**
 * Session reads and the checks that keep revocation final go to masters: a replica a moment
 * behind would serve a session just revoked.
 */
export const READS_FROM_MASTERS_ONLY =
  "must read from masters: a replica lags behind its master, so it can serve a session that was just revoked";

/** ioredis Cluster: `nodes` plus any ioredis `ClusterOptions`, passed through (`scaleReads` only as "master"). */
export const clusterOptionsSchema = z
  .object({
    nodes: z.array(z.union([redisUrl, hostPort])).min(1, { message: "expected at least one node" }),
    keyPrefix: noKeyPrefix,
    scaleReads: z
      .literal("master", { message: `scaleReads ${READS_FROM_MASTERS_ONLY}; leave it out or set "master"` })
      .optional(),
    redisOptions: z.object({ keyPrefix: noKeyPrefix }).loose().optional(),
  })
  .loose();

/** ioredis Sentinel: `sentinels`, the master group `name`, plus any ioredis options, passed through. */
export const sentinelOptionsSchema = z
  .object({
    sentinels: z.array(hostPort).min(1, { message: "expected at least one sentinel" }),
    name: z.string().min(1),
    keyPrefix: noKeyPrefix,
    role: z
      .literal("master", { message: `role ${READS_FROM_MASTERS_ONLY}; leave it out or set "master"` })
      .optional(),
  })
  .loose();

/**
 * How each connection is made, for every target: the url's server, the Sentinel group's
 * master (and replicas), each Cluster node. A setting given here wins over the URL's.
 */
export const connectionOptionsSchema = z.strictObject({
  /** TLS, with a private CA or a client certificate. */
  tls: tlsOptionsSchema.optional(),
  /** ACL user (Redis 6+). */
  username: z.string().min(1).optional(),
  /** AUTH password. Never shown in an error. */
  password: z.string().min(1).optional(),
  /** Database number; not for Cluster, which has only database 0. A number the server refuses fails the first call. */
  db: z.number().int().min(0).optional(),
  /** How long opening one connection may take, in ms (at least 100). @default connectionPoolOptions.timeout */
  connectTimeout: milliseconds(DURATION_FLOORS_MS.connectTimeout).optional(),
  /** IP version of the host name lookup: 4, 6, or 0 for either. @default 0 */
  family: z.union([z.literal(0), z.literal(4), z.literal(6)]).optional(),
  /** Initial delay of TCP keep-alive probes, in ms (at least 1000); 0 turns them off. @default 0 */
  keepAlive: milliseconds(DURATION_FLOORS_MS.keepAlive, true).optional(),
});
export type ConnectionOptions = z.input<typeof connectionOptionsSchema>;

export const redisOptionsSchema = z
  .strictObject({
    /** `redis://[[user]:password@]host:port/db` or `rediss://…` for TLS. */
    url: redisUrl.optional(),
    cluster: clusterOptionsSchema.optional(),
    sentinel: sentinelOptionsSchema.optional(),
    /** Prefix of every key this library writes. @default "rels:session" */
    namespace: z.string().min(1).default(DEFAULTS.namespace),
    /** Deadline of every Redis command, in ms (at least 100). @default 1000 */
    commandTimeout: milliseconds(DURATION_FLOORS_MS.commandTimeout).default(DEFAULTS.commandTimeout),
    ...connectionOptionsSchema.shape,
  })
  .superRefine((value, ctx) => {
    if (value.cluster !== undefined && value.db !== undefined && value.db !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["db"],
        message: "expected no db with cluster: Redis Cluster has only database 0",
      });
    }
    const given = (["url", "cluster", "sentinel"] as const).filter((k) => value[k] !== undefined);
    if (given.length === 1) return;
    const message = `expected exactly one of url, cluster, sentinel; got ${given.length === 0 ? "none" : given.join(", ")}`;
    // Each extra target is named where it stands, so the user sees which lines to remove.
    for (const path of given.length === 0 ? ["url"] : given.slice(1))
      ctx.addIssue({ code: "custom", path: [path], message });
  });

export const connectionPoolOptionsSchema = z.strictObject({
  /**
   * ioredis connections kept open. Each is multiplexed, so one carries a busy process; see
   * the README for the measurements behind the default. @default 1
   */
  size: z.number().int().min(1).max(64).default(DEFAULTS.connectionPool.size),
  /** How long opening a connection may take, in ms (at least 100). @default 5000 */
  timeout: milliseconds(DURATION_FLOORS_MS.connectionPoolTimeout).default(DEFAULTS.connectionPool.timeout),
});

/** Whole seconds, at most 10 years (`DURATION_CEILING_S`): `ttl` and `legacyTtl`. */
const ttlSeconds = duration(z.number().int().positive(), { unit: "s", ceiling: DURATION_CEILING_S });

/**
 * An object of the app's with these methods, passed through as it is (a class instance
 * keeps its prototype and private fields; z.object would hand over a copy).
 */
function withMethods<T>(methods: readonly string[], message: string) {
  return z.custom<T>(
    (v) =>
      typeof v === "object" &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
    message,
  );
}

/** Options of the shared store, with connect-redis's names and meanings. */
export const storeOptionsSchema = z.strictObject({
  prefix: z.string().optional(),
  // z.custom, not z.function(): the app's own function (or serializer object) must reach
  // the store as it is, not as a zod-wrapped copy.
  ttl: z
    .union([
      ttlSeconds,
      z.custom<(session: never) => number>((v) => typeof v === "function", {
        message: "expected seconds or a function",
        abort: true,
      }),
    ])
    .optional(),
  disableTTL: z.boolean().optional(),
  disableTouch: z.boolean().optional(),
  scanCount: z.number().int().positive().optional(),
  serializer: z
    .union([
      z.enum(["json", "msgpack"]),
      withMethods<{ parse: unknown; stringify: unknown }>(
        ["parse", "stringify"],
        'expected "json", "msgpack" or an object with parse and stringify',
      ),
    ])
    .optional(),
  compressThreshold: z.number().int().nonnegative().optional(),
  touchAfter: z
    .union([
      duration(z.number().nonnegative(), { unit: "s", ceiling: DURATION_CEILING_S }),
      z.literal("auto"),
    ])
    .optional(),
  maxPayloadBytes: z.number().int().positive().optional(),
  maxSessionsPerUser: z.number().int().nonnegative().optional(),
  /**
   * The record layout written: 4 (metadata in a section of its own), or 3 (inside the
   * payload, as before), for a rolling upgrade while older processes still run. Both are
   * read either way. @default 4
   */
  recordLayout: z.union([z.literal(3), z.literal(4)]).optional(),
  /**
   * Acknowledge a revocation (destroy, every logout*, CLI revoke) only once a replica has it
   * (`WAIT 1 <durableRevocationTimeout>`), so a failover cannot bring revoked sessions back.
   * `"auto"`: on while the master reports a connected replica. @default "auto"
   */
  durableRevocation: z.union([z.boolean(), z.literal("auto")]).optional(),
  /** How long a revocation waits for a replica, in ms. @default 500 */
  durableRevocationTimeout: milliseconds(10).optional(),
  tombstoneTtl: z.number().int().nonnegative().optional(),
  legacyFallback: z.boolean().optional(),
  mirrorWrites: z.boolean().optional(),
  legacyTtl: ttlSeconds.optional(),
  /** pino-compatible `{ warn, error }`. */
  logger: withMethods<{ warn: unknown; error: unknown }>(
    ["warn", "error"],
    "expected a logger with warn and error methods",
  ).optional(),
});

/**
 * A profile's duration: at least a second, at most 10 years (as `ttl`), so a deadline is a
 * date ("forever" written as `Number.MAX_SAFE_INTEGER` would give none, silently).
 */
const profileMs = () =>
  duration(
    z
      .number()
      .int()
      .max(DURATION_CEILING_S * 1000, {
        message: `expected a duration of at most 10 years (${DURATION_CEILING_S * 1000} ms)`,
      }),
    { unit: "ms", floor: DURATION_FLOORS_MS.lifetime },
  );

/** One lifetime profile of `sessions.lifetimes`: how long a session may live, and how long idle. */
export const lifetimeProfileSchema = z.strictObject({
  /**
   * The absolute lifetime, in ms (at least 1000, at most 10 years), counted from sign-in
   * (`signInAt`): no activity extends it. The store revokes the session at its end.
   */
  absoluteMs: profileMs(),
  /**
   * The idle timeout, in ms (at least 1000, at most 10 years): the session's cookie `maxAge`
   * from sign-in on, as `recordAuthenticatedRequest`'s `expiresAfter` sets it. Without it the
   * cookie's own.
   */
  idleMs: profileMs().optional(),
});
export type LifetimeProfile = z.input<typeof lifetimeProfileSchema>;

/**
 * Named lifetime profiles (`sessions.lifetimes`): a sign-in takes the profile it names
 * (`recordAuthenticatedRequest(user, req, { lifetime })`), else its platform's, else `default`.
 * Without `lifetimes`, sessions have no absolute lifetime.
 *
 * @example
 * ```ts
 * lifetimes: {
 *   profiles: { browser: { absoluteMs: 12 * 3_600_000, idleMs: 3_600_000 }, rememberMe: { absoluteMs: 30 * 86_400_000 } },
 *   default: "browser",
 *   platforms: { ios_app: "rememberMe", android_app: "rememberMe" },
 * }
 * ```
 */
export const lifetimesSchema = z
  .strictObject({
    /** Each profile by name. */
    profiles: z
      .record(z.string().min(1), lifetimeProfileSchema)
      .refine((profiles) => Object.keys(profiles).length > 0, { message: "expected at least one profile" }),
    /** The profile of a sign-in that names none and whose platform has none. */
    default: z.string().min(1),
    /** A profile per client platform (`ios_app`, `android_app`, `mobile_web`, `web`). */
    platforms: z.partialRecord(z.enum(CLIENT_PLATFORMS), z.string().min(1)).optional(),
  })
  .superRefine((value, ctx) => {
    const known = Object.keys(value.profiles);
    const missing = (name: string) => !Object.hasOwn(value.profiles, name);
    const message = (name: string) =>
      `expected the name of one of the profiles (${known.join(", ")}); "${name}" is not one`;
    if (missing(value.default))
      ctx.addIssue({ code: "custom", path: ["default"], message: message(value.default) });
    for (const [platform, name] of Object.entries(value.platforms ?? {}))
      if (name !== undefined && missing(name))
        ctx.addIssue({ code: "custom", path: ["platforms", platform], message: message(name) });
  });
export type LifetimesOptions = z.input<typeof lifetimesSchema>;

export const sessionsOptionsSchema = z.strictObject({
  /**
   * `lastSeenAt` is refreshed at most this often, in ms (0, or at least 1000): the write that
   * refresh costs. @default 60000
   */
  lastSeenInterval: milliseconds(DURATION_FLOORS_MS.lastSeenInterval, true).default(
    DEFAULTS.sessions.lastSeenInterval,
  ),
  /** Signing in beyond this many sessions revokes the least recently seen. Off by default. */
  maxSessionsPerUser: z.number().int().positive().optional(),
  /**
   * Lifetime profiles: an absolute lifetime counted from sign-in that activity cannot extend,
   * beside the idle timeout (see {@link lifetimesSchema}). Off by default: no deadline. Needs
   * record layout 4 (not `store.recordLayout: 3`).
   */
  lifetimes: lifetimesSchema.optional(),
});

/**
 * Layout 3 (the rolling upgrade's first step) has no room for a session's absolute deadline:
 * lifetimes wait for layout 4.
 */
export const LIFETIMES_NEED_LAYOUT_4 =
  "expected no lifetimes while store.recordLayout is 3: layout 3 cannot hold a session's absolute deadline; finish the upgrade to layout 4 first (docs/migration.md)";

/** Strict objects throughout (but for the ioredis pass-through): a misspelt setting is an error, not a silent default. */
export const SessionStoreConfigSchema = z
  .strictObject({
    /** Which app this process is; recorded in each session's metadata and the stats. */
    applicationName: z.string().trim().min(1, { message: "expected a non-empty string" }),
    redisOptions: redisOptionsSchema,
    connectionPoolOptions: connectionPoolOptionsSchema.default({ ...DEFAULTS.connectionPool }),
    store: storeOptionsSchema.default({}),
    sessions: sessionsOptionsSchema.default({ ...DEFAULTS.sessions }),
  })
  .superRefine((value, ctx) => {
    if (value.sessions.lifetimes !== undefined && value.store.recordLayout === 3)
      ctx.addIssue({ code: "custom", path: ["sessions", "lifetimes"], message: LIFETIMES_NEED_LAYOUT_4 });
  });

export type SessionStoreConfigInput = z.input<typeof SessionStoreConfigSchema>;
export type SessionStoreConfig = z.output<typeof SessionStoreConfigSchema>;

/** Settings that come from the environment. */
export const envSchema = z.object({
  RELS_SESSION_SCAN_COUNT: z.coerce
    .number()
    .int()
    .positive()
    .max(100_000)
    .default(DEFAULTS.env.RELS_SESSION_SCAN_COUNT),
  RELS_SESSION_SERIALIZER: z.enum(["json", "msgpack"]).default(DEFAULTS.env.RELS_SESSION_SERIALIZER),
});
export type EnvConfig = z.output<typeof envSchema>;

export interface ResolvedConfig extends SessionStoreConfig {
  readonly env: EnvConfig;
}

/** Validate at the edge: every bad field is named, with what was expected and what was given. */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const config = SessionStoreConfigSchema.safeParse(input);
  const envResult = envSchema.safeParse({
    RELS_SESSION_SCAN_COUNT: unlessBlank(env.RELS_SESSION_SCAN_COUNT),
    RELS_SESSION_SERIALIZER: unlessBlank(env.RELS_SESSION_SERIALIZER),
  });
  const issues = [
    ...(config.success ? [] : describeIssues(config.error, input)),
    ...(envResult.success ? [] : describeIssues(envResult.error, env, "env")),
  ];
  if (!config.success || !envResult.success) throw new ConfigError(issues);
  return { ...config.data, env: envResult.data };
}

/** `FOO=` in a shell means "not set", not "set to nothing". */
function unlessBlank(value: string | undefined): string | undefined {
  return value?.trim() === "" ? undefined : value;
}

export function describeIssues(error: z.ZodError, input: unknown, root?: string): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = [root, ...issue.path.map(String)].filter(Boolean).join(".");
    const given = valueAt(input, issue.path);
    return { path, message: `${issue.message} (given: ${show(given, path)})` };
  });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

const SECRET_FIELD = /pass|secret|token|auth|user(name)?$|^key$|cert/i;

/** Show what was given without leaking a credential: URL userinfo and secret-named fields are masked. */
function show(value: unknown, path: string): string {
  if (value === undefined) return "nothing";
  if (typeof value === "function") return "a function";
  if (SECRET_FIELD.test(path.split(".").pop() ?? "")) return "***";
  let text: string;
  try {
    text =
      JSON.stringify(value, (key, field: unknown) => {
        if (key !== "" && SECRET_FIELD.test(key)) return "***";
        return typeof field === "string" ? maskUrlCredentials(field) : field;
      }) ?? String(value);
  } catch {
    text = maskUrlCredentials(String(value));
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

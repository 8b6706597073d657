import { z } from "zod";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { DEFAULT_NAMESPACE } from "./record/keys.js";

/**
 * Settings of `RelsSession.configure()`, as a zod schema so an app can embed it in its own
 * config validation (`z.object({ sessions: SessionStoreConfigSchema })`).
 */

const redisUrl = z
  .string()
  .refine((value) => /^rediss?:\/\/[^\s]*$/.test(value), { message: "expected a redis:// or rediss:// URL" });

const hostPort = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65_535) });

/** ioredis Cluster: `nodes` plus any ioredis `ClusterOptions` (e.g. `scaleReads`), passed through. */
export const clusterOptionsSchema = z
  .object({ nodes: z.array(z.union([redisUrl, hostPort])).min(1, { message: "expected at least one node" }) })
  .loose();

/** ioredis Sentinel: `sentinels`, the master group `name`, plus any ioredis options, passed through. */
export const sentinelOptionsSchema = z
  .object({
    sentinels: z.array(hostPort).min(1, { message: "expected at least one sentinel" }),
    name: z.string().min(1),
  })
  .loose();

export const redisOptionsSchema = z
  .strictObject({
    /** `redis://[:password@]host:port/db` or `rediss://…` for TLS. */
    url: redisUrl.optional(),
    cluster: clusterOptionsSchema.optional(),
    sentinel: sentinelOptionsSchema.optional(),
    /** Prefix of every key this library writes. @default "rels:session" */
    namespace: z.string().min(1).default(DEFAULT_NAMESPACE),
    /** Deadline of every Redis command, in ms. @default 1000 */
    commandTimeout: z.number().int().positive().default(1000),
  })
  .superRefine((value, ctx) => {
    const given = (["url", "cluster", "sentinel"] as const).filter((k) => value[k] !== undefined);
    if (given.length === 1) return;
    const message = `expected exactly one of url, cluster, sentinel; got ${given.length === 0 ? "none" : given.join(", ")}`;
    // Each extra target is named where it stands, so the user sees which lines to remove.
    for (const path of given.length === 0 ? ["url"] : given.slice(1)) ctx.addIssue({ code: "custom", path: [path], message });
  });

export const connectionPoolOptionsSchema = z.strictObject({
  /**
   * ioredis connections kept open. Each is multiplexed, so one carries a busy process; see
   * the README for the measurements behind the default. @default 1
   */
  size: z.number().int().min(1).max(64).default(1),
  /** How long opening a connection may take, in ms. @default 5000 */
  timeout: z.number().int().positive().default(5000),
});

const ttlSeconds = z.number().int().positive();

/**
 * An object of the app's with these methods, passed through as it is (a class instance
 * keeps its prototype and private fields; z.object would hand over a copy).
 */
function withMethods<T>(methods: readonly string[], message: string) {
  return z.custom<T>(
    (v) => typeof v === "object" && v !== null && methods.every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
    message,
  );
}

/** Options of the shared store, with connect-redis's names and meanings. */
export const storeOptionsSchema = z.strictObject({
  prefix: z.string().optional(),
  // z.custom, not z.function(): the app's own function (or serializer object) must reach
  // the store as it is, not as a zod-wrapped copy.
  ttl: z.union([ttlSeconds, z.custom<(session: never) => number>((v) => typeof v === "function", "expected seconds or a function")]).optional(),
  disableTTL: z.boolean().optional(),
  disableTouch: z.boolean().optional(),
  scanCount: z.number().int().positive().optional(),
  serializer: z
    .union([
      z.enum(["json", "msgpack"]),
      withMethods<{ parse: unknown; stringify: unknown }>(["parse", "stringify"], 'expected "json", "msgpack" or an object with parse and stringify'),
    ])
    .optional(),
  compressThreshold: z.number().int().nonnegative().optional(),
  touchAfter: z.union([z.number().nonnegative(), z.literal("auto")]).optional(),
  maxPayloadBytes: z.number().int().positive().optional(),
  maxSessionsPerUser: z.number().int().nonnegative().optional(),
  tombstoneTtl: z.number().int().nonnegative().optional(),
  legacyFallback: z.boolean().optional(),
  mirrorWrites: z.boolean().optional(),
  legacyTtl: z.number().int().positive().optional(),
  /** pino-compatible `{ warn, error }`. */
  logger: withMethods<{ warn: unknown; error: unknown }>(["warn", "error"], "expected a logger with warn and error methods").optional(),
});

export const sessionsOptionsSchema = z.strictObject({
  /** `lastSeenAt` is refreshed at most this often, in ms: the write that refresh costs. @default 60000 */
  lastSeenInterval: z.number().int().nonnegative().default(60_000),
  /** Signing in beyond this many sessions revokes the least recently seen. Off by default. */
  maxSessionsPerUser: z.number().int().positive().optional(),
});

/** Strict objects throughout (but for the ioredis pass-through): a misspelt setting is an error, not a silent default. */
export const SessionStoreConfigSchema = z.strictObject({
  /** Which app this process is; recorded in each session's metadata and the stats. */
  applicationName: z.string().trim().min(1, { message: "expected a non-empty string" }),
  redisOptions: redisOptionsSchema,
  connectionPoolOptions: connectionPoolOptionsSchema.default({ size: 1, timeout: 5000 }),
  store: storeOptionsSchema.default({}),
  sessions: sessionsOptionsSchema.default({ lastSeenInterval: 60_000 }),
});

export type SessionStoreConfigInput = z.input<typeof SessionStoreConfigSchema>;
export type SessionStoreConfig = z.output<typeof SessionStoreConfigSchema>;

/** Settings that come from the environment. */
export const envSchema = z.object({
  RELS_SESSION_SCAN_COUNT: z.coerce.number().int().positive().max(100_000).default(50),
  RELS_SESSION_SERIALIZER: z.enum(["json", "msgpack"]).default("json"),
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
    text = JSON.stringify(value, (key, field: unknown) => (key !== "" && SECRET_FIELD.test(key) ? "***" : field)) ?? String(value);
  } catch {
    text = String(value);
  }
  text = text.replace(/\/\/[^@/\s"]*@/g, "//***@");
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

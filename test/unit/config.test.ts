/**
 * Settings validation (no Redis): exactly one of url / cluster / sentinel, and every bad
 * field named with what was expected and what was given, never a password.
 */
import { keysOf, sourceOf } from "../support/internals.js";
import { recordsOf } from "../../src/record/of-store.js";
import { afterEach, describe, expect, it } from "vitest";
import { inspect } from "node:util";
import { Cluster, Redis } from "ioredis";
import { ConfigError, RelsRedisStore, RelsSession } from "../../src/index.js";
import { DEFAULTS, DURATION_CEILING_S, DURATION_FLOORS_MS, parseConfig } from "../../src/config.js";
import { maskUrlCredentials } from "../../src/redact.js";
import { databaseOf, targetOf } from "../../src/redis/target.js";
import type { ConfigIssue } from "../../src/index.js";

const NO_ENV: NodeJS.ProcessEnv = {};
const SENTINELS = [
  { host: "10.0.0.1", port: 26379 },
  { host: "10.0.0.2", port: 26379 },
];
const NODES = [
  { host: "10.0.1.1", port: 7000 },
  { host: "10.0.1.2", port: 7001 },
];

/** The ConfigError `run` throws; fails the test when it throws something else or nothing. */
function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

function issueAt(error: ConfigError, path: string): ConfigIssue {
  const issue = error.issues.find((i) => i.path === path);
  if (!issue) throw new Error(`no issue at ${path}; issues: ${JSON.stringify(error.issues)}`);
  // The message names the field too, not only `issues`.
  expect(error.message).toContain(path);
  return issue;
}

/** The message says what was expected and what was given. */
function expectExpectedAndGiven(issue: ConfigIssue, expected: RegExp, given: string): void {
  expect(issue.message).toMatch(/expected/i);
  expect(issue.message).toMatch(expected);
  expect(issue.message).toContain(`(given: ${given})`);
}

const base = { applicationName: "Turtle" } as const;

describe("parseConfig: where Redis is", () => {
  it("accepts a url, with defaults filled in", () => {
    const config = parseConfig({ ...base, redisOptions: { url: "redis://localhost:6379/4" } }, NO_ENV);
    expect(config.redisOptions.url).toBe("redis://localhost:6379/4");
    expect(config.redisOptions.cluster).toBeUndefined();
    expect(config.redisOptions.sentinel).toBeUndefined();
    expect(config.redisOptions.namespace).toBe("rels:session");
    expect(config.connectionPoolOptions).toEqual({ size: 1, timeout: 5000 });
    expect(config.env).toEqual({ RELS_SESSION_SCAN_COUNT: 50, RELS_SESSION_SERIALIZER: "json" });
  });

  it("accepts rediss:// (TLS)", () => {
    expect(
      parseConfig({ ...base, redisOptions: { url: "rediss://cache.example.com:6380" } }, NO_ENV).redisOptions
        .url,
    ).toBe("rediss://cache.example.com:6380");
  });

  it("accepts a cluster: nodes plus ioredis cluster options such as maxRedirections, passed through", () => {
    const config = parseConfig(
      {
        ...base,
        redisOptions: {
          cluster: { nodes: [...NODES, "redis://10.0.1.3:7002"], scaleReads: "master", maxRedirections: 8 },
        },
      },
      NO_ENV,
    );
    expect(config.redisOptions.url).toBeUndefined();
    expect(config.redisOptions.cluster).toEqual({
      nodes: [...NODES, "redis://10.0.1.3:7002"],
      scaleReads: "master",
      maxRedirections: 8,
    });
  });

  it("accepts a sentinel group: sentinels, name, plus ioredis options, passed through", () => {
    const config = parseConfig(
      {
        ...base,
        redisOptions: { sentinel: { sentinels: SENTINELS, name: "mymaster", role: "master", db: 2 } },
      },
      NO_ENV,
    );
    expect(config.redisOptions.sentinel).toEqual({
      sentinels: SENTINELS,
      name: "mymaster",
      role: "master",
      db: 2,
    });
  });

  it("rejects none of url, cluster, sentinel, naming the path", () => {
    const error = configErrorOf(() => parseConfig({ ...base, redisOptions: {} }, NO_ENV));
    const issue = issueAt(error, "redisOptions.url");
    expect(issue.message).toMatch(/exactly one of url, cluster, sentinel/);
    expect(issue.message).toMatch(/got none/);
    expect(issue.message).toContain("(given: nothing)");
  });

  it("rejects two of them (url + cluster, url + sentinel, cluster + sentinel), naming the extra one", () => {
    const cases = [
      {
        redisOptions: { url: "redis://localhost", cluster: { nodes: NODES } },
        path: "redisOptions.cluster",
        got: "url, cluster",
      },
      {
        redisOptions: { url: "redis://localhost", sentinel: { sentinels: SENTINELS, name: "m" } },
        path: "redisOptions.sentinel",
        got: "url, sentinel",
      },
      {
        redisOptions: { cluster: { nodes: NODES }, sentinel: { sentinels: SENTINELS, name: "m" } },
        path: "redisOptions.sentinel",
        got: "cluster, sentinel",
      },
    ];
    for (const { redisOptions, path, got } of cases) {
      const error = configErrorOf(() => parseConfig({ ...base, redisOptions }, NO_ENV));
      const issue = issueAt(error, path);
      expect(issue.message).toMatch(/expected exactly one of url, cluster, sentinel/);
      expect(issue.message).toContain(`got ${got}`);
      expect(issue.message).toContain("(given: ");
    }
  });

  it("rejects all three, naming both extra ones", () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          ...base,
          redisOptions: {
            url: "redis://localhost",
            cluster: { nodes: NODES },
            sentinel: { sentinels: SENTINELS, name: "m" },
          },
        },
        NO_ENV,
      ),
    );
    expect(error.message).toContain("got url, cluster, sentinel");
    expect(
      error.issues
        .map((i) => i.path)
        .some((p) => p === "redisOptions.cluster" || p === "redisOptions.sentinel"),
    ).toBe(true);
  });

  it("rejects a URL with another scheme, without printing its password", () => {
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { url: "http://admin:hunter2@cache:6379" } }, NO_ENV),
    );
    const issue = issueAt(error, "redisOptions.url");
    expect(issue.message).toMatch(/expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(issue.message).toContain("given: ");
    expect(issue.message).toContain("cache:6379");
    expect(error.message).not.toContain("hunter2");
    expect(JSON.stringify(error.issues)).not.toContain("hunter2");
  });

  it("rejects a cluster node with a bad URL scheme, naming its index, without its password", () => {
    const error = configErrorOf(() =>
      parseConfig(
        { ...base, redisOptions: { cluster: { nodes: ["http://:hunter2@10.0.1.1:7000"] } } },
        NO_ENV,
      ),
    );
    issueAt(error, "redisOptions.cluster.nodes.0");
    expect(error.message).not.toContain("hunter2");
  });

  it("rejects an empty cluster and an empty sentinel list", () => {
    const cluster = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { cluster: { nodes: [] } } }, NO_ENV),
    );
    expectExpectedAndGiven(issueAt(cluster, "redisOptions.cluster.nodes"), /at least one node/, "[]");
    const sentinel = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { sentinel: { sentinels: [], name: "m" } } }, NO_ENV),
    );
    expectExpectedAndGiven(
      issueAt(sentinel, "redisOptions.sentinel.sentinels"),
      /at least one sentinel/,
      "[]",
    );
  });

  it("rejects a bad sentinel port and a missing group name, naming each", () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          ...base,
          redisOptions: {
            sentinel: {
              sentinels: [
                { host: "10.0.0.1", port: 26379 },
                { host: "10.0.0.2", port: 70_000 },
              ],
              name: "",
            },
          },
        },
        NO_ENV,
      ),
    );
    expectExpectedAndGiven(issueAt(error, "redisOptions.sentinel.sentinels.1.port"), /65535/, "70000");
    expectExpectedAndGiven(issueAt(error, "redisOptions.sentinel.name"), /1 character/, '""');
    expect(error.issues).toHaveLength(2);

    const asText = configErrorOf(() =>
      parseConfig(
        {
          ...base,
          redisOptions: { sentinel: { sentinels: [{ host: "10.0.0.1", port: "26379" }], name: "m" } },
        },
        NO_ENV,
      ),
    );
    expectExpectedAndGiven(issueAt(asText, "redisOptions.sentinel.sentinels.0.port"), /number/, '"26379"');
  });
});

describe("parseConfig: other fields", () => {
  it("rejects an empty (or blank) applicationName", () => {
    for (const applicationName of ["", "   "]) {
      const error = configErrorOf(() =>
        parseConfig({ applicationName, redisOptions: { url: "redis://localhost" } }, NO_ENV),
      );
      expectExpectedAndGiven(
        issueAt(error, "applicationName"),
        /non-empty string/,
        JSON.stringify(applicationName),
      );
    }
    const missing = configErrorOf(() => parseConfig({ redisOptions: { url: "redis://localhost" } }, NO_ENV));
    expect(issueAt(missing, "applicationName").message).toContain("(given: nothing)");
  });

  it("rejects a negative, zero or fractional pool size", () => {
    for (const [size, bound] of [
      [-1, />=\s*1/],
      [0, />=\s*1/],
      [1.5, /int/],
    ] as const) {
      const error = configErrorOf(() =>
        parseConfig(
          { ...base, redisOptions: { url: "redis://localhost" }, connectionPoolOptions: { size } },
          NO_ENV,
        ),
      );
      expectExpectedAndGiven(issueAt(error, "connectionPoolOptions.size"), bound, String(size));
    }
  });

  it("reads RELS_SESSION_SCAN_COUNT and RELS_SESSION_SERIALIZER from the env given, blank meaning unset", () => {
    const config = parseConfig(
      { ...base, redisOptions: { url: "redis://localhost" } },
      { RELS_SESSION_SCAN_COUNT: "200", RELS_SESSION_SERIALIZER: "msgpack" },
    );
    expect(config.env).toEqual({ RELS_SESSION_SCAN_COUNT: 200, RELS_SESSION_SERIALIZER: "msgpack" });
    const blank = parseConfig(
      { ...base, redisOptions: { url: "redis://localhost" } },
      { RELS_SESSION_SCAN_COUNT: " " },
    );
    expect(blank.env.RELS_SESSION_SCAN_COUNT).toBe(50);
  });

  it("rejects RELS_SESSION_SCAN_COUNT=abc and RELS_SESSION_SERIALIZER=xml, naming both", () => {
    const error = configErrorOf(() =>
      parseConfig(
        { ...base, redisOptions: { url: "redis://localhost" } },
        { RELS_SESSION_SCAN_COUNT: "abc", RELS_SESSION_SERIALIZER: "xml" },
      ),
    );
    expectExpectedAndGiven(issueAt(error, "env.RELS_SESSION_SCAN_COUNT"), /number/, '"abc"');
    expectExpectedAndGiven(issueAt(error, "env.RELS_SESSION_SERIALIZER"), /json.*msgpack/, '"xml"');
    expect(error.issues).toHaveLength(2);
  });

  it("reports config and env issues together", () => {
    const error = configErrorOf(() =>
      parseConfig({ applicationName: "", redisOptions: {} }, { RELS_SESSION_SERIALIZER: "xml" }),
    );
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      "applicationName",
      "env.RELS_SESSION_SERIALIZER",
      "redisOptions.url",
    ]);
  });

  it("rejects a settings value that is not an object at all", () => {
    const error = configErrorOf(() => parseConfig(undefined, NO_ENV));
    expect(error.issues[0]?.message).toMatch(/expected object/);
  });
});

describe("no password in any error", () => {
  it("a URL's password is not printed by a url issue", () => {
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { url: "redis://user:hunter2@cache:6379 /4" } }, NO_ENV),
    );
    issueAt(error, "redisOptions.url");
    expect(error.message).not.toContain("hunter2");
  });

  // The "exactly one of" issue sits at `redisOptions.cluster` and shows the whole cluster object,
  // whose node URLs carry the password.
  it("a cluster node URL's password is not printed by the two-of issue", () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          ...base,
          redisOptions: { url: "redis://localhost", cluster: { nodes: ["redis://:hunter2@10.0.1.1:7000"] } },
        },
        NO_ENV,
      ),
    );
    issueAt(error, "redisOptions.cluster");
    expect(error.message).not.toContain("hunter2");
  });

  it("a URL given where the redisOptions object belongs is not printed with its password", () => {
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: "redis://:hunter2@cache:6379" }, NO_ENV),
    );
    issueAt(error, "redisOptions");
    expect(error.message).not.toContain("hunter2");
  });

  it("password options passed through to ioredis are not printed by the two-of issue", () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          ...base,
          redisOptions: {
            url: "redis://localhost",
            sentinel: { sentinels: [{ host: "h", port: 1 }], name: "m", password: "hunter2" },
          },
        },
        NO_ENV,
      ),
    );
    issueAt(error, "redisOptions.sentinel");
    expect(error.message).not.toContain("hunter2");
  });
});

describe("RelsSession.configure", () => {
  afterEach(async () => {
    await RelsSession.close();
  });

  it("refuses reads from replicas (cluster scaleReads, sentinel role), saying why, in the config and on an app's own client", () => {
    for (const [redisOptions, path] of [
      [{ cluster: { nodes: NODES, scaleReads: "slave" } }, "redisOptions.cluster.scaleReads"],
      [{ cluster: { nodes: NODES, scaleReads: "all" } }, "redisOptions.cluster.scaleReads"],
      [{ sentinel: { sentinels: SENTINELS, name: "mymaster", role: "slave" } }, "redisOptions.sentinel.role"],
    ] as const) {
      const issue = issueAt(
        configErrorOf(() =>
          RelsSession.configure({ ...base, redisOptions: redisOptions as never }, { env: NO_ENV }),
        ),
        path,
      );
      expect(issue?.message).toMatch(/replica .* revoked/);
    }
    // Never connected (lazyConnect); an unreachable loopback port all the same.
    const unreachable = [{ host: "127.0.0.1", port: 1 }];
    const cluster = new Cluster(unreachable, { scaleReads: "slave", lazyConnect: true });
    const replica = new Redis({ sentinels: unreachable, name: "mymaster", role: "slave", lazyConnect: true });
    try {
      expect(
        issueAt(
          configErrorOf(() => new RelsRedisStore({ client: cluster })),
          "store.client.options.scaleReads",
        )?.message,
      ).toMatch(/replica/);
      expect(
        issueAt(
          configErrorOf(() => new RelsRedisStore({ client: replica })),
          "store.client.options.role",
        )?.message,
      ).toMatch(/replica/);
    } finally {
      cluster.disconnect();
      replica.disconnect();
    }
  });

  it("accepts url, cluster (with scaleReads: master) and sentinel without connecting", () => {
    RelsSession.configure(
      { ...base, redisOptions: { url: "redis://127.0.0.1:1/4", namespace: "cfg" } },
      { env: NO_ENV },
    );
    expect(RelsSession.config.redisOptions.url).toBe("redis://127.0.0.1:1/4");
    expect(keysOf(RelsSession.store()).namespace).toBe("cfg");

    RelsSession.configure(
      { ...base, redisOptions: { cluster: { nodes: NODES, scaleReads: "master" } } },
      { env: NO_ENV },
    );
    expect(RelsSession.config.redisOptions.cluster).toMatchObject({ nodes: NODES, scaleReads: "master" });
    expect(sourceOf(RelsSession.store()).isCluster).toBe(true);

    RelsSession.configure(
      { ...base, redisOptions: { sentinel: { sentinels: SENTINELS, name: "mymaster" } } },
      { env: NO_ENV },
    );
    expect(RelsSession.config.redisOptions.sentinel).toMatchObject({
      sentinels: SENTINELS,
      name: "mymaster",
    });
    expect(sourceOf(RelsSession.store()).isCluster).toBe(false);
  });

  it("applies the env given in the second argument", () => {
    RelsSession.configure(
      { ...base, redisOptions: { url: "redis://127.0.0.1:1" } },
      { env: { RELS_SESSION_SCAN_COUNT: "7" } },
    );
    expect(RelsSession.config.env.RELS_SESSION_SCAN_COUNT).toBe(7);
    expect(recordsOf(RelsSession.store()).scanCount).toBe(7);
  });

  it("throws ConfigError for none-of, two-of and bad env, naming the path", () => {
    expect(
      issueAt(
        configErrorOf(() => RelsSession.configure({ ...base, redisOptions: {} }, { env: NO_ENV })),
        "redisOptions.url",
      ),
    ).toBeDefined();
    expect(
      issueAt(
        configErrorOf(() =>
          RelsSession.configure(
            {
              ...base,
              redisOptions: { url: "redis://localhost", sentinel: { sentinels: SENTINELS, name: "m" } },
            },
            { env: NO_ENV },
          ),
        ),
        "redisOptions.sentinel",
      ),
    ).toBeDefined();
    const env = configErrorOf(() =>
      RelsSession.configure(
        { ...base, redisOptions: { url: "redis://localhost" } },
        { env: { RELS_SESSION_SERIALIZER: "xml" } },
      ),
    );
    expectExpectedAndGiven(issueAt(env, "env.RELS_SESSION_SERIALIZER"), /json/, '"xml"');
    expect(RelsSession.isConfigured).toBe(false);
  });
});

describe("strict settings", () => {
  it("names a misspelt setting instead of silently using the default", () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          applicationName: "T",
          redisOptions: { url: "redis://localhost", namespce: "x" },
          store: { touchafter: 5 },
        },
        NO_ENV,
      ),
    );
    expect(error.message).toMatch(/namespce/);
    expect(error.message).toMatch(/touchafter/);
  });

  it("accepts a pino-style logger under store.logger and refuses anything else there", () => {
    const logger = { warn: () => undefined, error: () => undefined };
    expect(
      parseConfig(
        { applicationName: "T", redisOptions: { url: "redis://localhost" }, store: { logger } },
        NO_ENV,
      ).store.logger,
    ).toBe(logger);
    const error = configErrorOf(() =>
      parseConfig(
        { applicationName: "T", redisOptions: { url: "redis://localhost" }, store: { logger: console.log } },
        NO_ENV,
      ),
    );
    expect(error.issues.map((i) => i.path)).toContain("store.logger");
  });
});

describe("durations: milliseconds, with a floor that catches seconds", () => {
  const url = { url: "redis://localhost" };
  it("refuses a pool timeout of 5 (seconds, as the Ruby gem writes it), naming the field and the likely value", () => {
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: url, connectionPoolOptions: { timeout: 5 } }, NO_ENV),
    );
    const issue = issueAt(error, "connectionPoolOptions.timeout");
    expect(issue.message).toContain("milliseconds: did you mean 5000?");
    expect(issue.message).toContain("(given: 5)");
  });

  it("refuses every other millisecond duration below its floor, with the same hint", () => {
    const cases = [
      ["redisOptions.commandTimeout", { redisOptions: { ...url, commandTimeout: 1 } }, 1000],
      ["redisOptions.connectTimeout", { redisOptions: { ...url, connectTimeout: 10 } }, 10_000],
      ["redisOptions.keepAlive", { redisOptions: { ...url, keepAlive: 30 } }, 30_000],
      ["sessions.lastSeenInterval", { redisOptions: url, sessions: { lastSeenInterval: 60 } }, 60_000],
    ] as const;
    for (const [path, settings, meant] of cases) {
      const issue = issueAt(
        configErrorOf(() => parseConfig({ ...base, ...settings }, NO_ENV)),
        path,
      );
      expect(issue.message).toContain(`did you mean ${meant}?`);
    }
    const negative = issueAt(
      configErrorOf(() => parseConfig({ ...base, redisOptions: { ...url, commandTimeout: -5 } }, NO_ENV)),
      "redisOptions.commandTimeout",
    );
    expect(negative.message).toMatch(/at least 100 ms/);
    expect(negative.message).not.toContain("did you mean");
  });

  it("accepts each floor, and 0 where 0 means off (keepAlive) or every request (lastSeenInterval)", () => {
    const config = parseConfig(
      {
        ...base,
        redisOptions: {
          ...url,
          commandTimeout: DURATION_FLOORS_MS.commandTimeout,
          connectTimeout: 100,
          keepAlive: 0,
        },
        connectionPoolOptions: { timeout: DURATION_FLOORS_MS.connectionPoolTimeout },
        sessions: { lastSeenInterval: 0 },
      },
      NO_ENV,
    );
    expect(config.redisOptions.commandTimeout).toBe(100);
    expect(config.sessions.lastSeenInterval).toBe(0);
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { ...url, commandTimeout: 0 } }, NO_ENV),
    );
    issueAt(error, "redisOptions.commandTimeout");
  });

  it("fills every default from the one DEFAULTS constant", () => {
    const config = parseConfig({ ...base, redisOptions: url }, NO_ENV);
    expect(config.redisOptions.commandTimeout).toBe(DEFAULTS.commandTimeout);
    expect(config.redisOptions.namespace).toBe(DEFAULTS.namespace);
    expect(config.connectionPoolOptions).toEqual(DEFAULTS.connectionPool);
    expect(config.sessions).toEqual(DEFAULTS.sessions);
    expect(config.env).toEqual(DEFAULTS.env);
  });
});

describe("durations: seconds, with a ceiling that catches milliseconds", () => {
  const url = { url: "redis://localhost" };

  it("refuses ttl: 14 * 86400000 (14 days in ms, a 38-year TTL), naming the field, the value and the seconds meant", () => {
    const issue = issueAt(
      configErrorOf(() =>
        parseConfig({ ...base, redisOptions: url, store: { ttl: 14 * 86_400_000 } }, NO_ENV),
      ),
      "store.ttl",
    );
    expect(issue.message).toContain("at most 315360000 s (10 years)");
    expect(issue.message).toContain("did you mean 1209600? 1209600000 ms = 1209600 s");
    expect(issue.message).toContain("(given: 1209600000)");
  });

  it("refuses touchAfter and legacyTtl in milliseconds with the same hint, and the store constructor does too", () => {
    const cases = [
      [
        "store.touchAfter",
        { touchAfter: 3_650 * 86_400_000 },
        "did you mean 315360000? 315360000000 ms = 315360000 s",
      ],
      ["store.legacyTtl", { legacyTtl: 30 * 86_400_000 }, "did you mean 2592000? 2592000000 ms = 2592000 s"],
    ] as const;
    for (const [path, store, hint] of cases) {
      const issue = issueAt(
        configErrorOf(() => parseConfig({ ...base, redisOptions: url, store }, NO_ENV)),
        path,
      );
      expect(issue.message).toContain(hint);
      // A store made directly validates the same schema (no Redis is reached: the error comes first).
      const direct = issueAt(
        configErrorOf(() => new RelsRedisStore(store)),
        path,
      );
      expect(direct.message).toContain(hint);
    }
  });

  it("accepts the ceiling itself, fractions of a second for touchAfter, and still refuses 0 and fractions for ttl", () => {
    const config = parseConfig(
      {
        ...base,
        redisOptions: url,
        store: { ttl: DURATION_CEILING_S, legacyTtl: DURATION_CEILING_S, touchAfter: 0.5 },
      },
      NO_ENV,
    );
    expect(config.store).toMatchObject({
      ttl: DURATION_CEILING_S,
      legacyTtl: DURATION_CEILING_S,
      touchAfter: 0.5,
    });
    expect(DURATION_CEILING_S).toBe(10 * 365 * 86_400);
    const over = issueAt(
      configErrorOf(() =>
        parseConfig({ ...base, redisOptions: url, store: { ttl: DURATION_CEILING_S + 1 } }, NO_ENV),
      ),
      "store.ttl",
    );
    expect(over.message).toContain("did you mean 315360? 315360001 ms = 315360 s");
    for (const ttl of [0, 1.5]) {
      const issue = issueAt(
        configErrorOf(() => parseConfig({ ...base, redisOptions: url, store: { ttl } }, NO_ENV)),
        "store.ttl",
      );
      expect(issue.message).not.toContain("did you mean");
    }
    // A function stays a function.
    const ttl = () => 60;
    expect(parseConfig({ ...base, redisOptions: url, store: { ttl } }, NO_ENV).store.ttl).toBe(ttl);
  });
});

describe("connection settings", () => {
  const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  it("accepts TLS (PEM text or bytes), ACL user, password, db, connectTimeout, family and keepAlive, and passes them to ioredis", () => {
    const config = parseConfig(
      {
        ...base,
        redisOptions: {
          url: "redis://cache:6380",
          tls: {
            ca: [ca, Buffer.from(ca)],
            cert: ca,
            key: Buffer.from("k"),
            servername: "cache.internal",
            rejectUnauthorized: true,
          },
          username: "app",
          password: "s3cret",
          db: 4,
          connectTimeout: 2000,
          family: 4,
          keepAlive: 10_000,
        },
      },
      NO_ENV,
    );
    const target = targetOf(config.redisOptions);
    expect(target).toMatchObject({
      kind: "url",
      url: "redis://cache:6380",
      options: {
        username: "app",
        password: "s3cret",
        db: 4,
        connectTimeout: 2000,
        family: 4,
        keepAlive: 10_000,
      },
    });
    expect(target.kind === "url" ? target.options?.tls : undefined).toMatchObject({
      servername: "cache.internal",
      rejectUnauthorized: true,
      cert: ca,
    });
    // Nothing given, nothing passed: the url's own password and db stay in force.
    expect(
      targetOf(parseConfig({ ...base, redisOptions: { url: "redis://:pw@cache/2" } }, NO_ENV).redisOptions)
        .options,
    ).toEqual({});
    // The database the sessions live in (their revocation events' channel says it): the url's wins.
    expect(databaseOf(target)).toBe(4);
    const urlTarget = (url: string, db?: number) =>
      targetOf(
        parseConfig({ ...base, redisOptions: { url, ...(db === undefined ? {} : { db }) } }, NO_ENV)
          .redisOptions,
      );
    expect(databaseOf(urlTarget("redis://cache/2", 5))).toBe(2);
    expect(databaseOf(urlTarget("redis://cache", 5))).toBe(5);
    expect(databaseOf(urlTarget("redis://cache"))).toBe(0);
  });

  it("applies them to each Sentinel-group and Cluster connection; Cluster takes no db", () => {
    const sentinel = targetOf(
      parseConfig(
        {
          ...base,
          redisOptions: { sentinel: { sentinels: SENTINELS, name: "m" }, password: "pw", db: 2, tls: {} },
        },
        NO_ENV,
      ).redisOptions,
    );
    expect(sentinel).toMatchObject({
      kind: "sentinel",
      options: { password: "pw", db: 2, tls: {}, enableTLSForSentinelMode: true },
    });
    const cluster = targetOf(
      parseConfig(
        {
          ...base,
          redisOptions: {
            cluster: { nodes: NODES, redisOptions: { connectionName: "x" } },
            password: "pw",
            tls: {},
          },
        },
        NO_ENV,
      ).redisOptions,
    );
    expect(cluster).toMatchObject({
      kind: "cluster",
      options: { redisOptions: { password: "pw", tls: {}, connectionName: "x" } },
    });
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { cluster: { nodes: NODES }, db: 3 } }, NO_ENV),
    );
    expect(issueAt(error, "redisOptions.db").message).toMatch(/only database 0/);
  });

  it("refuses a misspelt TLS setting, a bad family and a negative db, naming each", () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          ...base,
          redisOptions: { url: "redis://cache", tls: { caFile: "/etc/ca.pem" }, family: 5, db: -1 },
        },
        NO_ENV,
      ),
    );
    expect(error.message).toMatch(/caFile/);
    issueAt(error, "redisOptions.family");
    issueAt(error, "redisOptions.db");
  });

  it("never shows a password given in the wrong shape, nor a TLS key", () => {
    const error = configErrorOf(() =>
      parseConfig(
        { ...base, redisOptions: { url: "redis://cache", password: 12345678, tls: { key: 987654321 } } },
        NO_ENV,
      ),
    );
    expect(issueAt(error, "redisOptions.password").message).toContain("(given: ***)");
    expect(issueAt(error, "redisOptions.tls.key").message).toContain("(given: ***)");
    expect(error.message).not.toContain("12345678");
    expect(error.message).not.toContain("987654321");
  });
});

describe("no password in any error, whatever characters it holds", () => {
  // A URL parser ends the userinfo at the first `/`, `?` or `#` and rejects spaces: masking
  // must run to the last `@` instead.
  const passwords = ["hunter 2", "pa/ss", "p@ss/w?rd#1"];

  it("a URL given where the redisOptions object belongs", () => {
    for (const password of passwords) {
      for (const url of [`redis://:${password}@cache:6379`, `redis://admin:${password}@cache:6379/2`]) {
        const error = configErrorOf(() => parseConfig({ ...base, redisOptions: url }, NO_ENV));
        issueAt(error, "redisOptions");
        expect(error.message).not.toContain(password);
        expect(error.message).toContain("cache:6379");
      }
    }
  });

  it("an invalid url (a space makes it one) and a cluster node URL", () => {
    const spaced = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { url: "redis://:hunter 2@cache:6379" } }, NO_ENV),
    );
    expect(issueAt(spaced, "redisOptions.url").message).toContain("redis://***@cache:6379");
    expect(spaced.message).not.toContain("hunter");
    for (const password of passwords) {
      const error = configErrorOf(() =>
        parseConfig(
          {
            ...base,
            redisOptions: {
              url: "redis://localhost",
              cluster: { nodes: [`redis://admin:${password}@10.0.1.1:7000`] },
            },
          },
          NO_ENV,
        ),
      );
      issueAt(error, "redisOptions.cluster");
      expect(error.message).not.toContain(password);
    }
  });

  it("a url ioredis cannot parse (unencoded / in the password) is refused up front, without the password", () => {
    const error = configErrorOf(() =>
      parseConfig({ ...base, redisOptions: { url: "redis://admin:pa/ss@cache:6379" } }, NO_ENV),
    );
    const issue = issueAt(error, "redisOptions.url");
    expect(issue.message).toMatch(/percent-encode/);
    expect(issue.message).toContain("redis://***@cache:6379");
    expect(error.message).not.toContain("pa/ss");
    expect(
      parseConfig({ ...base, redisOptions: { url: "redis://admin:pa%2Fss@cache:6379" } }, NO_ENV).redisOptions
        .url,
    ).toContain("%2F");
  });

  it("maskUrlCredentials keeps scheme, host and path", () => {
    expect(maskUrlCredentials("redis://admin:pa/ss@cache:6379/2")).toBe("redis://***@cache:6379/2");
    expect(maskUrlCredentials("rediss://:hunter 2@cache")).toBe("rediss://***@cache");
    expect(maskUrlCredentials("redis://cache:6379/2")).toBe("redis://cache:6379/2");
    expect(maskUrlCredentials("no url here @ all")).toBe("no url here @ all");
    expect(maskUrlCredentials("Error: sent to ops@example @ noon")).toBe("Error: sent to ops@example @ noon");
  });

  it("a password in the URL's query (ioredis reads it) or after a mistyped scheme", () => {
    const secret = "hunter2-Sup3rSecret";
    for (const url of [
      `redis://127.0.0.1:1/0?password=${secret}&name=my app`,
      `redis:/:${secret}@127.0.0.1:1`,
      `redis::${secret}@127.0.0.1:1`,
    ]) {
      const error = configErrorOf(() => parseConfig({ ...base, redisOptions: { url } }, NO_ENV));
      issueAt(error, "redisOptions.url");
      expect(inspect(error, { depth: 8, showHidden: true })).not.toContain(secret);
      expect(maskUrlCredentials(url)).not.toContain(secret);
    }
    expect(maskUrlCredentials(`redis://cache/0?name=x&PASSWORD=${secret}#top`)).toBe(
      "redis://cache/0?name=x&PASSWORD=***#top",
    );
  });
});

describe("ioredis keyPrefix through configure()", () => {
  it("is refused for cluster, cluster.redisOptions and sentinel, naming the field and what to use instead", () => {
    const nodes = [{ host: "127.0.0.1", port: 7000 }];
    const sentinels = [{ host: "127.0.0.1", port: 26379 }];
    for (const [redisOptions, path] of [
      [{ cluster: { nodes, keyPrefix: "app:" } }, "redisOptions.cluster.keyPrefix"],
      [
        { cluster: { nodes, redisOptions: { keyPrefix: "app:" } } },
        "redisOptions.cluster.redisOptions.keyPrefix",
      ],
      [{ sentinel: { sentinels, name: "m", keyPrefix: "app:" } }, "redisOptions.sentinel.keyPrefix"],
    ] as const) {
      const issue = issueAt(
        configErrorOf(() => parseConfig({ ...base, redisOptions }, NO_ENV)),
        path,
      );
      expect(issue.message).toMatch(/keyPrefix is not supported.*namespace/);
    }
    expect(() => parseConfig({ ...base, redisOptions: { cluster: { nodes } } }, NO_ENV)).not.toThrow();
  });
});

/**
 * docs/configuration.md's option tables against the zod schemas (src/config.ts) and
 * `DEFAULTS`: every setting, store option and environment variable is documented once, each
 * documented default is the one the code applies, and nothing documented is unknown to the
 * schemas. A default written in the docs cannot go stale without this failing.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { DEFAULTS, SessionStoreConfigSchema, envSchema, storeOptionsSchema } from "../../src/config.js";

const DOC = "docs/configuration.md";

/**
 * Defaults the code applies outside the schemas (the schema leaves the field optional). Each
 * reads `DEFAULTS` where the library has one; the others are "absent means off" or ioredis's
 * own default.
 */
const APPLIED_DEFAULTS: Record<string, unknown> = {
  "redisOptions.db": 0,
  "redisOptions.family": 0,
  "redisOptions.keepAlive": 0,
  "redisOptions.connectTimeout": DEFAULTS.connectionPool.timeout,
  "sessions.maxSessionsPerUser": DEFAULTS.store.maxSessionsPerUser,
  "store.namespace": DEFAULTS.namespace,
  "store.prefix": `${DEFAULTS.namespace}:`,
  "store.ttl": DEFAULTS.store.ttlSeconds,
  "store.disableTTL": false,
  "store.disableTouch": false,
  "store.scanCount": DEFAULTS.store.scanCount,
  "store.serializer": DEFAULTS.store.serializer,
  "store.touchAfter": DEFAULTS.store.touchAfter,
  "store.maxPayloadBytes": DEFAULTS.store.maxPayloadBytes,
  "store.maxSessionsPerUser": DEFAULTS.store.maxSessionsPerUser,
  "store.durableRevocation": DEFAULTS.store.durableRevocation,
  "store.durableRevocationTimeout": DEFAULTS.store.durableRevocationTimeoutMs,
  "store.legacyFallback": false,
  "store.mirrorWrites": false,
  "store.legacyTtl": DEFAULTS.store.legacyTtlSeconds,
  "store.recordLayout": DEFAULTS.store.recordLayout,
};

/** `new RelsRedisStore(options)` takes these beside the schema's (typed in store.ts). */
const STORE_ONLY_OPTIONS = ["client", "namespace"];

interface Field {
  readonly path: string;
  readonly required: boolean;
  /** The schema's own default, if it declares one. */
  readonly schemaDefault?: unknown;
}

/** The object inside `schema`'s optional/default wrappers, if it is one. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodType>) : undefined;
}

function field(path: string, schema: z.ZodType): Field {
  const required = !schema.safeParse(undefined).success;
  return schema instanceof z.ZodDefault
    ? { path, required, schemaDefault: schema.def.defaultValue }
    : { path, required };
}

/**
 * Every documented unit of the schemas: top-level settings, one level into `redisOptions`,
 * `connectionPoolOptions` and `sessions` (cluster, sentinel and tls are documented whole),
 * `store` itself and each store option, and each environment variable.
 */
function schemaFields(): Field[] {
  const fields: Field[] = [];
  for (const [key, schema] of Object.entries(SessionStoreConfigSchema.shape as Record<string, z.ZodType>)) {
    const shape = key === "store" ? undefined : objectShape(schema);
    if (!shape) fields.push(field(key, schema));
    else for (const [name, inner] of Object.entries(shape)) fields.push(field(`${key}.${name}`, inner));
  }
  for (const [name, schema] of Object.entries(storeOptionsSchema.shape as Record<string, z.ZodType>))
    fields.push(field(`store.${name}`, schema));
  for (const name of STORE_ONLY_OPTIONS) fields.push({ path: `store.${name}`, required: false });
  for (const [name, schema] of Object.entries(envSchema.shape as Record<string, z.ZodType>))
    fields.push(field(`env.${name}`, schema));
  return fields;
}

interface Row {
  readonly path: string;
  readonly defaultCell: string;
  readonly line: string;
}

/** The rows of every option table in `markdown`: settings (full paths), store options, environment variables. */
function documentedRows(markdown: string): Row[] {
  const rows: Row[] = [];
  let prefix: string | undefined;
  for (const line of markdown.split("\n")) {
    if (!line.startsWith("|")) {
      prefix = undefined;
      continue;
    }
    const cells = line
      .slice(1, line.endsWith("|") ? -1 : undefined)
      .split(" | ")
      .map((c) => c.trim());
    const header = cells[0] ?? "";
    if (prefix === undefined) {
      // A table starts: its header says what its first column holds.
      prefix =
        header === "setting" ? "" : header === "option" ? "store." : header === "variable" ? "env." : "-";
      continue;
    }
    if (prefix === "-" || /^-+$/.test(header)) continue;
    for (const [, name] of header.matchAll(/`([^`]+)`/g))
      rows.push({ path: `${prefix}${name}`, defaultCell: cells[1] ?? "", line });
  }
  return rows;
}

/** The default a cell states: its leading `literal` (JSON), or undefined for "—", "off", "none". */
function statedDefault(cell: string): { value: unknown } | undefined {
  const literal = /^`([^`]+)`/.exec(cell);
  if (!literal) return undefined;
  try {
    return { value: JSON.parse(literal[1]!) };
  } catch {
    throw new Error(`default cell ${JSON.stringify(cell)} starts with a code span that is not a JSON value`);
  }
}

/** What `documentedRows(markdown)` gets wrong against the schemas; empty when the docs are right. */
function problems(markdown: string): string[] {
  const rows = documentedRows(markdown);
  const fields = schemaFields();
  const found: string[] = [];
  for (const f of fields) {
    const documented = rows.filter((r) => r.path === f.path);
    if (documented.length !== 1) {
      found.push(`${f.path}: documented ${documented.length} times`);
      continue;
    }
    const row = documented[0]!;
    const expected =
      "schemaDefault" in f
        ? { value: f.schemaDefault }
        : f.path in APPLIED_DEFAULTS
          ? { value: APPLIED_DEFAULTS[f.path] }
          : undefined;
    const stated = statedDefault(row.defaultCell);
    if (f.required !== row.defaultCell.includes("(required)"))
      found.push(`${f.path}: required is ${f.required}, the docs say ${row.defaultCell}`);
    if (expected === undefined && stated !== undefined)
      found.push(`${f.path}: no default in the code, the docs say ${row.defaultCell}`);
    if (
      expected !== undefined &&
      (stated === undefined || JSON.stringify(stated.value) !== JSON.stringify(expected.value))
    ) {
      found.push(
        `${f.path}: the default is ${JSON.stringify(expected.value)}, the docs say ${row.defaultCell}`,
      );
    }
  }
  const known = new Set(fields.map((f) => f.path));
  for (const row of rows)
    if (!known.has(row.path)) found.push(`${row.path}: documented, but no schema has it`);
  return found;
}

describe("docs/configuration.md option tables", () => {
  const markdown = readFileSync(DOC, "utf8");

  it("document every setting, store option and environment variable once, with the code's default", () => {
    expect(documentedRows(markdown).length).toBeGreaterThan(30);
    expect(problems(markdown)).toEqual([]);
  });

  it("say tombstoneTtl is deprecated and ignored", () => {
    const row = documentedRows(markdown).find((r) => r.path === "store.tombstoneTtl");
    expect(row?.line).toMatch(/deprecated/i);
    expect(row?.line).toMatch(/ignored/i);
  });

  it("fail on a stale default, a missing option, an unknown one, or a default the code lacks", () => {
    const stale = markdown.replace("| `maxSessionsPerUser` | `1000` |", "| `maxSessionsPerUser` | off |");
    expect(stale).not.toBe(markdown);
    expect(problems(stale)).toEqual(["store.maxSessionsPerUser: the default is 1000, the docs say off"]);

    const wrong = markdown.replace(
      "| `redisOptions.commandTimeout` | `1000` |",
      "| `redisOptions.commandTimeout` | `5000` |",
    );
    expect(problems(wrong)).toEqual([
      "redisOptions.commandTimeout: the default is 1000, the docs say `5000`",
    ]);

    const missing = markdown.replace(/^\| `compressThreshold` .*\n/m, "");
    expect(problems(missing)).toEqual(["store.compressThreshold: documented 0 times"]);

    const unknown = markdown.replace(
      "| `logger` | none |",
      "| `logger` | none |\n| `retries` | `3` | made up |",
    );
    expect(unknown).not.toBe(markdown);
    expect(problems(unknown)).toEqual(["store.retries: documented, but no schema has it"]);

    const invented = markdown.replace("| `compressThreshold` | off |", "| `compressThreshold` | `1024` |");
    expect(problems(invented)).toEqual([
      "store.compressThreshold: no default in the code, the docs say `1024`",
    ]);
  });
});

/**
 * What `npm run bench` can be asked to do: the command line, the contenders and workloads,
 * and the configuration each child process is started with.
 */
import { parseArgs } from "node:util";
import { z } from "zod";

/** Store-level contenders; each runs in its own child process (bench/store-child.ts). */
export const STORE_CONTENDERS = ["rels", "connect-redis", "ioredis-corked", "ioredis-plain"] as const;
export const storeContenderSchema = z.enum(STORE_CONTENDERS);
export type StoreContender = z.infer<typeof storeContenderSchema>;

export const STORE_WORKLOADS = ["get-set", "get-touch"] as const;
export const storeWorkloadSchema = z.enum(STORE_WORKLOADS);
export type StoreWorkload = z.infer<typeof storeWorkloadSchema>;

/** End-to-end contenders; each is an Express app in its own child process (bench/http-server.ts). */
export const HTTP_CONTENDERS = ["rels", "connect-redis", "memory"] as const;
export const httpContenderSchema = z.enum(HTTP_CONTENDERS);
export type HttpContender = z.infer<typeof httpContenderSchema>;

export const HTTP_WORKLOADS = ["unchanged", "modify", "tracked"] as const;
export const httpWorkloadSchema = z.enum(HTTP_WORKLOADS);
export type HttpWorkload = z.infer<typeof httpWorkloadSchema>;

/**
 * Which contender runs which HTTP workload. connect-redis has no session tracking: its
 * "modify" is what "tracked" is compared with. MemoryStore runs "tracked" without tracking
 * (a fresh sign-in, then modifying requests), as the in-process ceiling.
 */
export const HTTP_PLAN: Readonly<Record<HttpContender, readonly HttpWorkload[]>> = {
  rels: ["unchanged", "modify", "tracked"],
  "connect-redis": ["unchanged", "modify"],
  memory: ["unchanged", "modify", "tracked"],
};

/** What `contender` runs of `only`; connect-redis's "modify" comes along with "tracked", as its comparison. */
export function httpWorkloadsFor(contender: HttpContender, only: readonly Workload[]): HttpWorkload[] {
  return HTTP_PLAN[contender].filter(
    (w) => only.includes(w) || (contender === "connect-redis" && w === "modify" && only.includes("tracked")),
  );
}

export const WORKLOADS = [...STORE_WORKLOADS, ...HTTP_WORKLOADS, "round-trips", "revocation-events"] as const;
export const workloadSchema = z.enum(WORKLOADS);
export type Workload = z.infer<typeof workloadSchema>;

/** `--only` also takes the group names `store` and `http`. */
const ONLY_GROUPS: Readonly<Record<string, readonly Workload[]>> = {
  store: STORE_WORKLOADS,
  http: HTTP_WORKLOADS,
};

const positive = z.coerce.number().positive();
const positiveInt = z.coerce.number().int().positive();

export const benchOptionsSchema = z.object({
  /** Interleaved rounds: every contender once per round, the order rotated each round. */
  rounds: positiveInt,
  /** Measured seconds of one store-level workload in one child. */
  storeSeconds: positive,
  /** Measured seconds of one HTTP workload against one server child. */
  httpSeconds: positive,
  /** Unmeasured seconds before each store-level measurement (fresh processes need their JIT warmed). */
  warmupSeconds: positive,
  /**
   * Unmeasured seconds of load before each HTTP measurement. Longer than at store level: a
   * server does a few hundred requests a second on a loaded 2-core machine, and its CPU per
   * request was still falling after 4 s of load when measured with 1 s.
   */
  httpWarmupSeconds: positive,
  /** Concurrent callers at store level. */
  concurrency: positiveInt,
  /** Keep-alive connections of the HTTP load (one signed-in session each). */
  connections: positiveInt,
  /** JSON size of the store-level session. */
  payload: positiveInt.min(700),
  only: z.array(workloadSchema).min(1),
  /**
   * A git revision whose library (its src/) runs next to this tree's as `rels@<short-rev>`,
   * with an A/A copy of this tree's (`rels-aa`) for the noise band. Checked for its shape
   * here; bench/baseline.ts resolves it (an unknown revision is a UsageError there).
   */
  baseline: z
    .string()
    .trim()
    .regex(/^[^\s-]\S*$/, "a git revision (commit, tag or branch), without spaces and not starting with '-'")
    .optional(),
});
export type BenchOptions = z.infer<typeof benchOptionsSchema>;

/** Below this many rounds the A/A band (min–max of the A/A ratios) is no band at all. */
export const MIN_BASELINE_ROUNDS = 3;

/** What `--baseline` needs besides a revision: a measured workload, and rounds enough for a band. */
const baselineNeeds = benchOptionsSchema.superRefine((options, ctx) => {
  if (options.baseline === undefined) return;
  if (!options.only.some((w) => w !== "round-trips" && w !== "revocation-events")) {
    ctx.addIssue({
      code: "custom",
      path: ["baseline"],
      message:
        "compares measured workloads; --only left none (round-trips is a count, revocation-events a child of its own)",
    });
  }
  if (options.rounds < MIN_BASELINE_ROUNDS) {
    ctx.addIssue({
      code: "custom",
      path: ["baseline"],
      message: `needs --rounds=${MIN_BASELINE_ROUNDS} or more: the A/A band is the min–max of one ratio per round`,
    });
  }
});

/**
 * The full run: 5 rounds, 36 child processes in all; 5.3 minutes of warming up and
 * measuring, plus starting children: about 6–7 minutes on a quiet 2-core machine, 7.6 at
 * a load average of 14.
 */
export const BENCH_DEFAULTS: BenchOptions = {
  rounds: 5,
  storeSeconds: 2,
  httpSeconds: 3,
  warmupSeconds: 1,
  httpWarmupSeconds: 2,
  concurrency: 100,
  connections: 50,
  payload: 1024,
  only: [...WORKLOADS],
};

/** `--quick`: a smoke run of everything (1–2 minutes, mostly starting children); figures are indicative only. */
export const QUICK_DEFAULTS: BenchOptions = {
  ...BENCH_DEFAULTS,
  rounds: 2,
  storeSeconds: 0.5,
  httpSeconds: 1,
  warmupSeconds: 0.3,
  httpWarmupSeconds: 0.5,
};

export const USAGE = `usage: npm run bench -- [--quick] [--only=<workload>[,<workload>…]] [--rounds=N]
  [--store-seconds=S] [--http-seconds=S] [--warmup-seconds=S] [--http-warmup-seconds=S]
  [--concurrency=C] [--connections=N] [--payload=BYTES] [--baseline=<git-rev>]
workloads: ${WORKLOADS.join(", ")} (or the groups ${Object.keys(ONLY_GROUPS).join(", ")})`;

/** A bad command line: printed without a stack trace. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The command line → options (`--quick` changes the defaults; explicit flags win). */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      rounds: { type: "string" },
      "store-seconds": { type: "string" },
      "http-seconds": { type: "string" },
      "warmup-seconds": { type: "string" },
      "http-warmup-seconds": { type: "string" },
      concurrency: { type: "string" },
      connections: { type: "string" },
      payload: { type: "string" },
      baseline: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  const defaults = values.quick ? QUICK_DEFAULTS : BENCH_DEFAULTS;
  const only = values.only
    ?.split(",")
    .flatMap((name): string[] => [...(ONLY_GROUPS[name.trim()] ?? [name.trim()])]);
  const parsed = baselineNeeds.safeParse({
    rounds: values.rounds ?? defaults.rounds,
    storeSeconds: values["store-seconds"] ?? defaults.storeSeconds,
    httpSeconds: values["http-seconds"] ?? defaults.httpSeconds,
    warmupSeconds: values["warmup-seconds"] ?? defaults.warmupSeconds,
    httpWarmupSeconds: values["http-warmup-seconds"] ?? defaults.httpWarmupSeconds,
    concurrency: values.concurrency ?? defaults.concurrency,
    connections: values.connections ?? defaults.connections,
    payload: values.payload ?? defaults.payload,
    only: only ?? defaults.only,
    ...(values.baseline === undefined ? {} : { baseline: values.baseline }),
  });
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .map((issue) => `--${issue.path.join(".")}: ${issue.message}`)
    .join("\n");
  throw new UsageError(`${problems}\n${USAGE}`);
}

/** The A/A contender: a second copy of this tree's library, in a process of its own. */
export const AA_NAME = "rels-aa";

/** A contender as the rounds run it: its name in the tables, what it is, and whose library a rels one loads. */
export interface Entrant<K extends string> {
  readonly name: string;
  readonly kind: K;
  /** Root of the rels-session tree whose src/index.ts a rels contender loads; this tree's when absent. */
  readonly libRoot?: string;
}

/** The build `--baseline` names: `rels@<short-rev>`, loaded from a worktree at `root`. */
export interface BaselineEntrant {
  readonly name: string;
  readonly root: string;
}

/**
 * The contenders of one level, in the order of round 1. With a baseline, the A/A copy runs
 * right before `rels` and the baseline right after it, so that, rotated round after round,
 * each of the two pairs is as far apart in time as the other.
 */
export function lineup<K extends string>(kinds: readonly K[], baseline?: BaselineEntrant): Array<Entrant<K>> {
  const plain = kinds.map((kind): Entrant<K> => ({ name: kind, kind }));
  const rels = kinds.find((k) => k === "rels");
  if (baseline === undefined || rels === undefined) return plain;
  const others = plain.filter((e) => e.kind !== rels);
  return [
    { name: AA_NAME, kind: rels },
    { name: rels, kind: rels },
    { name: baseline.name, kind: rels, libRoot: baseline.root },
    ...others,
  ];
}

/** What bench/store-child.ts is started with (JSON in argv[2]). */
export const storeChildConfigSchema = z.object({
  url: z.string(),
  contender: storeContenderSchema,
  /** rels only: the library root whose src/index.ts to load (a baseline's worktree); this tree's when absent. */
  libRoot: z.string().optional(),
  workloads: z.array(storeWorkloadSchema).min(1),
  /** Key prefix / namespace of this child, so no two children share keys. */
  namespace: z.string(),
  concurrency: positiveInt,
  seconds: positive,
  warmupSeconds: positive,
  payload: positiveInt,
});
export type StoreChildConfig = z.infer<typeof storeChildConfigSchema>;

/** What bench/http-server.ts is started with (JSON in argv[2]). */
export const httpServerConfigSchema = z.object({
  url: z.string(),
  contender: httpContenderSchema,
  namespace: z.string(),
  /** rels only: the library root whose src/index.ts to load (a baseline's worktree); this tree's when absent. */
  libRoot: z.string().optional(),
});
export type HttpServerConfig = z.infer<typeof httpServerConfigSchema>;

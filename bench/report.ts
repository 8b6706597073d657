/**
 * What `npm run bench` prints: one table per workload (medians, min–max), the ratios to
 * each baseline measured in the same run, and issue 7's targets as met / not met.
 */
import { HTTP_PLAN, STORE_CONTENDERS, type HttpWorkload, type StoreWorkload } from "./options.js";
import type { Metric, Samples, Spread } from "./samples.js";
import { compareBuilds, type BuildNames } from "./compare.js";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const us = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const rounds = (n: number) => `${n} round${n === 1 ? "" : "s"}`;
const ratio = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "—" : n.toFixed(2));

export function heading(title: string): void {
  console.log(`\n${title}\n${"=".repeat(title.length)}`);
}

export function table(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  alignLeft: readonly number[] = [0],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (alignLeft.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const withRange = (s: Spread | undefined, fmt: (n: number) => string) =>
  s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : "—";

/** A baseline: a contender, on the same workload or (for "tracked" vs connect-redis) another. */
interface Baseline {
  readonly label: string;
  readonly contender: string;
  workloadFor(workload: string): string | undefined;
}

/** Below this, a baseline's Redis CPU is no Redis work at all (MemoryStore): no ratio. */
const NO_REDIS_US = 0.5;

function ratios(samples: Samples, workload: string, contender: string, base: Baseline): string {
  const baseWorkload = base.workloadFor(workload);
  if (baseWorkload === undefined || (base.contender === contender && baseWorkload === workload)) return "—";
  const of = (metric: Metric) => {
    const mine = samples.median(workload, contender, metric);
    const theirs = samples.median(baseWorkload, base.contender, metric);
    if (mine === undefined || theirs === undefined) return undefined;
    if (metric === "redisUsPerOp" && theirs < NO_REDIS_US) return undefined;
    return mine / theirs;
  };
  if (of("opsPerSec") === undefined) return "—";
  return `${ratio(of("opsPerSec"))} / ${ratio(of("nodeUsPerOp"))} / ${ratio(of("redisUsPerOp"))}`;
}

function workloadTable(
  samples: Samples,
  workload: string,
  contenders: readonly string[],
  baselines: readonly Baseline[],
  unit: string,
): void {
  const ran = contenders.filter((c) => samples.of(workload, c, "opsPerSec"));
  if (ran.length === 0) return;
  console.log(
    table(
      [
        "contender",
        `${unit}/s median (min–max)`,
        "Node µs/op",
        "Redis µs/op",
        ...baselines.map((b) => `× ${b.label}`),
      ],
      ran.map((c) => [
        c,
        withRange(samples.of(workload, c, "opsPerSec"), int),
        withRange(samples.of(workload, c, "nodeUsPerOp"), us),
        withRange(samples.of(workload, c, "redisUsPerOp"), us),
        ...baselines.map((b) => ratios(samples, workload, c, b)),
      ]),
    ),
  );
}

const same = (label: string, contender: string): Baseline => ({ label, contender, workloadFor: (w) => w });

export const STORE_TITLES: Readonly<Record<StoreWorkload, string>> = {
  "get-set": "get+set pairs: get(sid), change one field, set(sid, session)",
  "get-touch": "get+touch pairs: get(sid), touch(sid, session)",
};

export const HTTP_TITLES: Readonly<Record<HttpWorkload, string>> = {
  unchanged: "(1) unchanged signed-in request: GET /me",
  modify: "(2) modifying request: POST /visit",
  tracked: "(3) modifying request with trackSessions after a recorded sign-in: POST /visit-tracked",
};

/** `builds`: with `--baseline`, the baseline's and the A/A copy's names, listed after the usual rows. */
export function storeReport(
  samples: Samples,
  workloads: readonly StoreWorkload[],
  roundCount: number,
  seconds: number,
  concurrency: number,
  builds: readonly string[] = [],
): void {
  const baselines = [
    same("connect-redis", "connect-redis"),
    same("ioredis corked", "ioredis-corked"),
    same("ioredis plain", "ioredis-plain"),
  ];
  for (const workload of workloads) {
    heading(
      `Store level, ${STORE_TITLES[workload]} — ${concurrency} callers, ${rounds(roundCount)} × ${seconds} s`,
    );
    workloadTable(samples, workload, [...STORE_CONTENDERS, ...builds], baselines, "pairs");
  }
}

/** `builds`: with `--baseline`, the baseline's and the A/A copy's names (they run what rels runs), listed after the usual rows. */
export function httpReport(
  samples: Samples,
  workloads: readonly HttpWorkload[],
  roundCount: number,
  seconds: number,
  connections: number,
  builds: readonly string[] = [],
): void {
  const baselines: Baseline[] = [
    // connect-redis has no tracking: its modifying request is what a tracked one is compared with.
    {
      label: "connect-redis",
      contender: "connect-redis",
      workloadFor: (w) => (w === "tracked" ? "modify" : w),
    },
    same("MemoryStore", "memory"),
  ];
  for (const workload of workloads) {
    heading(
      `End to end, ${HTTP_TITLES[workload]} — ${connections} keep-alive connections, ${rounds(roundCount)} × ${seconds} s`,
    );
    workloadTable(
      samples,
      workload,
      [
        ...Object.keys(HTTP_PLAN).filter((c) => HTTP_PLAN[c as keyof typeof HTTP_PLAN].includes(workload)),
        ...(HTTP_PLAN.rels.includes(workload) ? builds : []),
      ],
      baselines,
      "req",
    );
    if (workload === "tracked")
      console.log(
        "(× connect-redis is against connect-redis's modifying request; MemoryStore runs it without tracking.)",
      );
  }
}

interface Target {
  readonly what: string;
  /** rels's median / connect-redis's median, or undefined when either did not run. */
  readonly value: number | undefined;
  readonly met: (x: number) => boolean;
  readonly bound: string;
}

export function targetsReport(samples: Samples): void {
  const vs = (workload: string, metric: Metric, crWorkload = workload) => {
    const mine = samples.median(workload, "rels", metric);
    const theirs = samples.median(crWorkload, "connect-redis", metric);
    return mine === undefined || theirs === undefined ? undefined : mine / theirs;
  };
  const atLeast = (bound: number) => ({ met: (x: number) => x >= bound, bound: `≥ ${bound.toFixed(1)}×` });
  const atMost = (bound: number) => ({ met: (x: number) => x <= bound, bound: `≤ ${bound.toFixed(1)}×` });
  const targets: Target[] = [
    { what: "get+set pairs/s vs connect-redis", value: vs("get-set", "opsPerSec"), ...atLeast(1.0) },
    {
      what: "get+set Node CPU per pair vs connect-redis",
      value: vs("get-set", "nodeUsPerOp"),
      ...atMost(1.0),
    },
    {
      what: "get+set Redis CPU per pair vs connect-redis",
      value: vs("get-set", "redisUsPerOp"),
      ...atMost(1.5),
    },
    { what: "get+touch pairs/s vs connect-redis", value: vs("get-touch", "opsPerSec"), ...atLeast(1.2) },
    {
      what: "(1) unchanged request req/s vs connect-redis",
      value: vs("unchanged", "opsPerSec"),
      ...atLeast(1.0),
    },
    {
      what: "(2) modifying request req/s vs connect-redis",
      value: vs("modify", "opsPerSec"),
      ...atLeast(1.0),
    },
    {
      what: "(3) tracked modifying req/s vs connect-redis's (2)",
      value: vs("tracked", "opsPerSec", "modify"),
      ...atLeast(1.0),
    },
    {
      what: "(3) Redis CPU per tracked request vs connect-redis's (2)",
      value: vs("tracked", "redisUsPerOp", "modify"),
      ...atMost(2.5),
    },
  ];
  heading("Targets (issue 7), from the medians: rels ÷ connect-redis");
  console.log(
    table(
      ["target", "bound", "measured", "verdict"],
      targets.map((t) => [
        t.what,
        t.bound,
        t.value === undefined ? "—" : `${t.value.toFixed(2)}×`,
        t.value === undefined ? "not measured" : t.met(t.value) ? "met" : "NOT met",
      ]),
      [0, 3],
    ),
  );
}

const METRIC_LABEL: Readonly<Record<Metric, string>> = {
  opsPerSec: "ops/s",
  nodeUsPerOp: "Node µs/op",
  redisUsPerOp: "Redis µs/op",
};

/**
 * `--baseline`: per workload, this tree's build ÷ the baseline's, paired round by round,
 * against the A/A band (rels-aa ÷ rels in the same rounds), with a verdict per metric.
 */
export function buildsReport(
  samples: Samples,
  workloads: ReadonlyArray<{ workload: string; title: string; unit: string }>,
  names: BuildNames,
): void {
  for (const { workload, title, unit } of workloads) {
    const rows = compareBuilds(samples, workload, names);
    if (rows.length === 0) continue;
    const n = rows[0]!.change.n;
    heading(
      `Builds compared, ${title}: ${names.current} ÷ ${names.baseline}, paired by round (${n}), against the A/A band ${names.aa} ÷ ${names.current}`,
    );
    const fmt = (s: Spread) => `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
    console.log(
      table(
        [
          "metric",
          `${names.current} ÷ ${names.baseline} median (min–max)`,
          "per round",
          `A/A ${names.aa} ÷ ${names.current} median (min–max)`,
          "noise band",
          "verdict",
        ],
        rows.map((r) => [
          r.metric === "opsPerSec" ? `${unit}/s` : METRIC_LABEL[r.metric],
          fmt(r.change),
          r.perRound.map((x) => x.toFixed(2)).join(" "),
          fmt(r.aa),
          `${r.band.low.toFixed(3)}–${r.band.high.toFixed(3)}`,
          r.verdict,
        ]),
        [0, 2, 5],
      ),
    );
  }
  console.log(
    `\nBuilds compared: one ratio per round (${names.current} ÷ ${names.baseline}; ${names.aa} ÷ ${names.current} for the A/A), then their` +
      "\nmedian and min–max. Above 1 is faster for ops/s and dearer for CPU. Noise band: the A/A min–max and its mirror" +
      "\n(1/max–1/min; which identical copy is on top is arbitrary), so it always holds 1. Verdict: gain or loss only when" +
      "\nthe median change lies strictly outside the noise band, on the better or the worse side; otherwise within noise.",
  );
}

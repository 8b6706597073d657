/**
 * `npm run bench -- --baseline=<git-rev>`: the option, the line-up, and the comparison of
 * two builds (paired ratios, medians, the A/A noise band, verdicts). No Redis, no children.
 */
import { describe, expect, it } from "vitest";
import {
  AA_NAME,
  BENCH_DEFAULTS,
  HTTP_CONTENDERS,
  STORE_CONTENDERS,
  UsageError,
  lineup,
  parseBenchArgs,
} from "../../bench/options.js";
import { compareBuilds, noiseBand, pairedRatios, verdict } from "../../bench/compare.js";
import { resolveRevision } from "../../bench/baseline.js";
import { Samples, type Sample } from "../../bench/samples.js";

describe("--baseline", () => {
  it("is absent unless given: the options are the defaults, nothing more", () => {
    expect(parseBenchArgs([])).toEqual(BENCH_DEFAULTS);
    expect(parseBenchArgs([])).not.toHaveProperty("baseline");
  });

  it("takes a revision (trimmed), with the other options as usual", () => {
    expect(parseBenchArgs(["--baseline=f424c5c", "--only=get-set,modify"])).toMatchObject({
      baseline: "f424c5c",
      only: ["get-set", "modify"],
      rounds: 5,
    });
    expect(parseBenchArgs(["--baseline", " v0.2.0 "])).toMatchObject({ baseline: "v0.2.0" });
    expect(parseBenchArgs(["--quick", "--rounds=3", "--baseline=main~2"])).toMatchObject({
      baseline: "main~2",
      rounds: 3,
    });
  });

  it.each([
    ["an empty revision", ["--baseline="], /--baseline/],
    ["a revision that looks like an option", ["--baseline=-n1"], /not starting with '-'/],
    ["a revision with a space", ["--baseline=HEAD foo"], /without spaces/],
    ["fewer than 3 rounds", ["--baseline=HEAD", "--rounds=2"], /--rounds=3 or more/],
    ["--quick's 2 rounds", ["--quick", "--baseline=HEAD"], /--rounds=3 or more/],
    ["nothing measured", ["--baseline=HEAD", "--only=round-trips"], /compares measured workloads/],
  ])("refuses %s with a usage error", (_, argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it("resolves a revision to its commit, and names an unknown one", () => {
    const head = resolveRevision("HEAD");
    expect(head.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(head.commit.startsWith(head.short)).toBe(true);
    expect(() => resolveRevision("no-such-revision-anywhere")).toThrow(UsageError);
    expect(() => resolveRevision("no-such-revision-anywhere")).toThrow(
      /unknown git revision "no-such-revision-anywhere"/,
    );
    // A path in a tree is an object, but not a commit.
    expect(() => resolveRevision("HEAD:package.json")).toThrow(/unknown git revision/);
  });
});

describe("lineup", () => {
  it("without a baseline is the contenders as they always were", () => {
    expect(lineup(STORE_CONTENDERS)).toEqual(STORE_CONTENDERS.map((kind) => ({ name: kind, kind })));
    expect(lineup(HTTP_CONTENDERS)).toEqual(HTTP_CONTENDERS.map((kind) => ({ name: kind, kind })));
  });

  it("with a baseline puts the A/A copy right before rels and the baseline right after it", () => {
    const baseline = { name: "rels@f424c5c", root: "/tmp/wt" };
    expect(lineup(HTTP_CONTENDERS, baseline)).toEqual([
      { name: AA_NAME, kind: "rels" },
      { name: "rels", kind: "rels" },
      { name: "rels@f424c5c", kind: "rels", libRoot: "/tmp/wt" },
      { name: "connect-redis", kind: "connect-redis" },
      { name: "memory", kind: "memory" },
    ]);
    expect(lineup(STORE_CONTENDERS, baseline).map((e) => e.name)).toEqual([
      AA_NAME,
      "rels",
      "rels@f424c5c",
      "connect-redis",
      "ioredis-corked",
      "ioredis-plain",
    ]);
  });
});

describe("comparing two builds", () => {
  it("pairs ratios round by round, leaving out rounds without a usable denominator", () => {
    const top = new Map([
      [2, 30],
      [0, 10],
      [1, 20],
      [3, 40],
      [4, 50],
    ]);
    const bottom = new Map([
      [0, 5],
      [1, 10],
      [3, 0],
      [4, Number.NaN],
    ]);
    expect(pairedRatios(top, bottom)).toEqual([2, 2]);
  });

  it("mirrors the A/A min–max into a band that always holds 1", () => {
    const spreadOf = (min: number, max: number) => ({ median: (min + max) / 2, min, max, n: 5 });
    expect(noiseBand(spreadOf(0.9, 1.05))).toEqual({ low: 0.9, high: 1 / 0.9 });
    const oneSided = noiseBand(spreadOf(0.8, 0.9));
    expect(oneSided.low).toBe(0.8);
    expect(oneSided.high).toBeCloseTo(1.25);
    const above = noiseBand(spreadOf(1.02, 1.1));
    expect(above.low).toBeCloseTo(1 / 1.1);
    expect(above.high).toBe(1.1);
  });

  it("calls a change a gain or a loss only strictly outside the band, by the metric's better side", () => {
    const band = { low: 0.95, high: 1.05 };
    expect(verdict("opsPerSec", 1.06, band)).toBe("gain");
    expect(verdict("opsPerSec", 0.94, band)).toBe("loss");
    expect(verdict("opsPerSec", 1.05, band)).toBe("within noise");
    expect(verdict("opsPerSec", 0.95, band)).toBe("within noise");
    expect(verdict("nodeUsPerOp", 0.94, band)).toBe("gain");
    expect(verdict("nodeUsPerOp", 1.06, band)).toBe("loss");
    expect(verdict("redisUsPerOp", 0.94, band)).toBe("gain");
    expect(verdict("redisUsPerOp", 1.0, band)).toBe("within noise");
  });

  it("reads the samples: current ÷ baseline and rels-aa ÷ rels per round, their medians, the verdicts", () => {
    const samples = new Samples();
    const sample = (opsPerSec: number, nodeUsPerOp: number, redisUsPerOp: number): Sample => ({
      opsPerSec,
      nodeUsPerOp,
      redisUsPerOp,
    });
    // Three rounds; this tree's build does 20% more ops/s than the baseline, for the same CPU,
    // and its two copies differ by at most 5%.
    const rels = [1000, 1100, 900];
    const aaFactor = [1.05, 0.97, 1.0];
    for (let round = 0; round < 3; round++) {
      samples.add("get-set", "rels", round, sample(rels[round]!, 20, 5));
      samples.add("get-set", "rels@old", round, sample(rels[round]! / 1.2, 20, 5));
      samples.add(
        "get-set",
        AA_NAME,
        round,
        sample(rels[round]! * aaFactor[round]!, 20 * aaFactor[round]!, 5),
      );
      samples.add("get-set", "connect-redis", round, sample(1, 1, 1));
    }
    const rows = compareBuilds(samples, "get-set", { current: "rels", baseline: "rels@old", aa: AA_NAME });
    expect(rows.map((r) => r.metric)).toEqual(["opsPerSec", "nodeUsPerOp", "redisUsPerOp"]);
    const [ops, node, redis] = rows;
    expect(ops!.perRound.map((x) => x.toFixed(3))).toEqual(["1.200", "1.200", "1.200"]);
    expect(ops!.change.median).toBeCloseTo(1.2);
    expect(ops!.aa).toMatchObject({ min: 0.97, max: 1.05, n: 3 });
    expect(ops!.aa.median).toBeCloseTo(1.0);
    expect(ops!.verdict).toBe("gain");
    expect(node!.change.median).toBe(1);
    expect(node!.verdict).toBe("within noise");
    expect(redis!.verdict).toBe("within noise");
    // A workload one of the builds did not run has no rows.
    expect(compareBuilds(samples, "modify", { current: "rels", baseline: "rels@old", aa: AA_NAME })).toEqual(
      [],
    );
  });

  it("reports a loss the same way", () => {
    const samples = new Samples();
    for (let round = 0; round < 4; round++) {
      const s = { opsPerSec: 1000, nodeUsPerOp: 20, redisUsPerOp: 5 };
      samples.add("modify", "rels", round, s);
      samples.add("modify", AA_NAME, round, { ...s, nodeUsPerOp: 20 * (round % 2 ? 1.02 : 0.99) });
      samples.add("modify", "rels@old", round, { ...s, nodeUsPerOp: 16 });
    }
    const node = compareBuilds(samples, "modify", {
      current: "rels",
      baseline: "rels@old",
      aa: AA_NAME,
    }).find((r) => r.metric === "nodeUsPerOp");
    expect(node?.change.median).toBeCloseTo(1.25);
    expect(node?.verdict).toBe("loss");
  });
});

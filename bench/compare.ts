/**
 * Two builds compared (`--baseline`): ratios paired round by round, their median and
 * min–max, and a verdict against the A/A band (two copies of the same build, measured the
 * same way in the same rounds). Pure: bench/report.ts prints it, test/unit/bench-compare.test.ts checks it.
 */
import { spread, type Metric, type Samples, type Spread } from "./samples.js";

export type Verdict = "gain" | "loss" | "within noise";

/** Whether a larger figure is better: ops/s yes, CPU per op no. */
export const HIGHER_IS_BETTER: Readonly<Record<Metric, boolean>> = {
  opsPerSec: true,
  nodeUsPerOp: false,
  redisUsPerOp: false,
};

export const METRICS: readonly Metric[] = ["opsPerSec", "nodeUsPerOp", "redisUsPerOp"];

/**
 * numerator ÷ denominator for each round both ran, in round order. A round without a usable
 * denominator (missing, zero, negative or not finite) pairs with nothing and is left out.
 */
export function pairedRatios(
  numerator: ReadonlyMap<number, number>,
  denominator: ReadonlyMap<number, number>,
): number[] {
  const ratios: number[] = [];
  for (const round of [...numerator.keys()].sort((a, b) => a - b)) {
    const top = numerator.get(round)!;
    const bottom = denominator.get(round);
    if (bottom === undefined || !(bottom > 0) || !Number.isFinite(bottom) || !Number.isFinite(top)) continue;
    ratios.push(top / bottom);
  }
  return ratios;
}

export interface Band {
  readonly low: number;
  readonly high: number;
}

/**
 * The noise band: the A/A ratios' min–max, together with its mirror (1/max – 1/min). Which
 * of two identical builds is on top of the ratio is arbitrary: rels-aa ÷ rels from 0.89 to
 * 0.94 is rels ÷ rels-aa from 1.07 to 1.12, so identical builds looked up to 12% apart
 * either way. The band therefore always holds 1, and "no change" is never a gain or a loss.
 */
export function noiseBand(aa: Spread): Band {
  return { low: Math.min(aa.min, 1 / aa.max), high: Math.max(aa.max, 1 / aa.min) };
}

/**
 * The rule: the change (the paired median of current ÷ baseline) is a gain or a loss only
 * when it lies strictly outside the noise band, on the better or the worse side for that
 * metric (ops/s: above is better; CPU per op: below is better); on the band's edge or
 * inside it, it is within noise.
 */
export function verdict(metric: Metric, change: number, band: Band): Verdict {
  if (change > band.high) return HIGHER_IS_BETTER[metric] ? "gain" : "loss";
  if (change < band.low) return HIGHER_IS_BETTER[metric] ? "loss" : "gain";
  return "within noise";
}

export interface BuildComparison {
  readonly metric: Metric;
  /** current ÷ baseline, one per round, in round order. */
  readonly perRound: readonly number[];
  readonly change: Spread;
  /** rels-aa ÷ rels, one per round. */
  readonly aa: Spread;
  /** What the verdict compares the change's median with (noiseBand). */
  readonly band: Band;
  readonly verdict: Verdict;
}

/** The names of the three builds in the samples: this tree's, the baseline's and the A/A copy's. */
export interface BuildNames {
  readonly current: string;
  readonly baseline: string;
  readonly aa: string;
}

/** One row per metric of `workload`, or none when either pair has no round in common. */
export function compareBuilds(samples: Samples, workload: string, names: BuildNames): BuildComparison[] {
  return METRICS.flatMap((metric): BuildComparison[] => {
    const current = samples.byRound(workload, names.current, metric);
    const perRound = pairedRatios(current, samples.byRound(workload, names.baseline, metric));
    const change = spread(perRound);
    const aa = spread(pairedRatios(samples.byRound(workload, names.aa, metric), current));
    if (change === undefined || aa === undefined) return [];
    const band = noiseBand(aa);
    return [{ metric, perRound, change, aa, band, verdict: verdict(metric, change.median, band) }];
  });
}

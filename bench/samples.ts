/**
 * Measurements: one sample per contender, workload and round; medians with min–max.
 */

/** One measurement of one contender on one workload. */
export interface Sample {
  /** Operations (pairs, or HTTP requests) per second. */
  readonly opsPerSec: number;
  /** CPU of the process doing the work (store child, or HTTP server child), µs per op. */
  readonly nodeUsPerOp: number;
  /** CPU of the private redis-server, µs per op. */
  readonly redisUsPerOp: number;
}

export type Metric = keyof Sample;

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** Samples keyed by workload, then contender (both plain strings: store and HTTP share this), with their round. */
export class Samples {
  readonly #byKey = new Map<string, Array<{ round: number; sample: Sample }>>();

  add(workload: string, contender: string, round: number, sample: Sample): void {
    const key = `${workload}\u0000${contender}`;
    const list = this.#byKey.get(key) ?? [];
    list.push({ round, sample });
    this.#byKey.set(key, list);
  }

  of(workload: string, contender: string, metric: Metric): Spread | undefined {
    return spread((this.#byKey.get(`${workload}\u0000${contender}`) ?? []).map((s) => s.sample[metric]));
  }

  /** One metric by round (rounds that contender ran that workload in), for ratios paired round by round. */
  byRound(workload: string, contender: string, metric: Metric): Map<number, number> {
    return new Map(
      (this.#byKey.get(`${workload}\u0000${contender}`) ?? []).map((s) => [s.round, s.sample[metric]]),
    );
  }

  /** Median of one metric, or undefined when that contender did not run that workload. */
  median(workload: string, contender: string, metric: Metric): number | undefined {
    return this.of(workload, contender, metric)?.median;
  }
}

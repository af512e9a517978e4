/**
 * Latency recording and summary statistics: pure functions over the recorded
 * latencies, no I/O and no clock.
 */

/** percentilesReported are the percentiles of the summary, as in etcd's benchmark plus p95 and p99.9. */
export const percentilesReported = [10, 25, 50, 75, 90, 95, 99, 99.9] as const;

/** histogramBuckets is the number of histogram rows (etcd's benchmark draws 10 + the fastest). */
export const histogramBuckets = 10;

/** histogramBarWidthMax is the longest bar, in characters. */
export const histogramBarWidthMax = 40;

/** LatencyRecorder collects latencies in milliseconds into a growing typed array. */
export class LatencyRecorder {
  private values: Float64Array;
  private size = 0;

  constructor(expected: number) {
    this.values = new Float64Array(Math.max(1024, Math.min(expected, 50_000_000)));
  }

  get count(): number {
    return this.size;
  }

  record(latencyMs: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = latencyMs;
  }

  /** sorted returns a sorted copy of the recorded latencies. */
  sorted(): Float64Array {
    return this.values.slice(0, this.size).sort();
  }
}

/** HistogramBucket counts latencies in (previous upper bound, upperMs]. */
export interface HistogramBucket {
  readonly upperMs: number;
  readonly count: number;
}

/** LatencySummary is the statistics of one run's successful requests, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly fastestMs: number;
  readonly slowestMs: number;
  readonly averageMs: number;
  readonly stddevMs: number;
  /** percentilesMs maps a percentile (e.g. "99.9") to its latency. */
  readonly percentilesMs: Readonly<Record<string, number>>;
  readonly histogram: readonly HistogramBucket[];
}

/** percentile returns the nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

/**
 * histogram spreads sorted values over `buckets` equal-width buckets between
 * the fastest and the slowest, after a first bucket holding the fastest, as
 * etcd's benchmark does: bucket i counts values in (bound[i-1], bound[i]].
 */
export function histogram(sorted: Float64Array, buckets: number): HistogramBucket[] {
  const fastest = sorted[0];
  const slowest = sorted[sorted.length - 1];
  if (fastest === undefined || slowest === undefined) return [];
  const width = (slowest - fastest) / buckets;
  const bounds: number[] = [fastest];
  for (let i = 1; i < buckets; i++) bounds.push(fastest + width * i);
  bounds.push(slowest);
  const counts = new Array<number>(bounds.length).fill(0);
  let b = 0;
  for (const value of sorted) {
    while (b < bounds.length - 1 && value > (bounds[b] ?? Number.POSITIVE_INFINITY)) b++;
    counts[b] = (counts[b] ?? 0) + 1;
  }
  return bounds.map((upperMs, i) => ({ upperMs, count: counts[i] ?? 0 }));
}

/** summarize computes the summary of sorted latencies. */
export function summarize(sorted: Float64Array): LatencySummary {
  let sum = 0;
  for (const v of sorted) sum += v;
  const average = sorted.length === 0 ? Number.NaN : sum / sorted.length;
  let squares = 0;
  for (const v of sorted) squares += (v - average) ** 2;
  const percentilesMs: Record<string, number> = {};
  for (const p of percentilesReported) percentilesMs[String(p)] = percentile(sorted, p);
  return {
    count: sorted.length,
    fastestMs: sorted[0] ?? Number.NaN,
    slowestMs: sorted[sorted.length - 1] ?? Number.NaN,
    averageMs: average,
    stddevMs: sorted.length === 0 ? Number.NaN : Math.sqrt(squares / sorted.length),
    percentilesMs,
    histogram: histogram(sorted, histogramBuckets),
  };
}

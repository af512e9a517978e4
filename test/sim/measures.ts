import type { SeedMeasures } from "./simulator.js";

/** Distribution summarises a list of samples. */
export interface Distribution {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** MeasureSummary is what a range of seeds cost one engine. */
export interface MeasureSummary {
  readonly seeds: number;
  readonly commands: number;
  readonly messagesPerCommand: number;
  readonly fsyncsPerCommand: number;
  readonly commitLatencyTicks: Distribution;
  readonly failoverTicks: Distribution;
}

/** percentile returns the `q` quantile (nearest rank) of sorted samples, 0 when there are none. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

function distribution(samples: readonly number[]): Distribution {
  const sorted = samples.slice().sort((a, b) => a - b);
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    count: sorted.length,
    mean: sorted.length === 0 ? 0 : sum / sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? 0,
  };
}

/** MeasureTotals accumulates `SeedMeasures` over seeds. */
export class MeasureTotals {
  private seeds = 0;
  private messages = 0;
  private readies = 0;
  private commands = 0;
  private readonly latency: number[] = [];
  private readonly failover: number[] = [];

  add(m: SeedMeasures): void {
    this.seeds++;
    this.messages += m.messagesSent;
    this.readies += m.readiesPersisted;
    this.commands += m.commandsCommitted;
    for (const x of m.commitLatencyTicks) this.latency.push(x);
    for (const x of m.failoverTicks) this.failover.push(x);
  }

  summary(): MeasureSummary {
    const per = (n: number): number => (this.commands === 0 ? 0 : n / this.commands);
    return {
      seeds: this.seeds,
      commands: this.commands,
      messagesPerCommand: per(this.messages),
      fsyncsPerCommand: per(this.readies),
      commitLatencyTicks: distribution(this.latency),
      failoverTicks: distribution(this.failover),
    };
  }
}

function formatDistribution(d: Distribution): string {
  return `mean ${d.mean.toFixed(1)}, p50 ${d.p50.toFixed(1)}, p99 ${d.p99.toFixed(1)}, max ${d.max.toFixed(1)} (n=${d.count})`;
}

/** formatSummary prints a summary as the `--stats` lines of the simulator's command line. */
export function formatSummary(engine: string, s: MeasureSummary): string {
  return [
    `stats ${engine}: ${s.seeds} seeds, ${s.commands} commands committed`,
    `  messages per command: ${s.messagesPerCommand.toFixed(1)}`,
    `  fsyncs (persisted Readies) per command: ${s.fsyncsPerCommand.toFixed(2)}`,
    `  commit latency, ticks from propose to apply on the proposer: ${formatDistribution(s.commitLatencyTicks)}`,
    `  failover, ticks from a leader crash to the first commit by a newer leader: ${formatDistribution(s.failoverTicks)}`,
  ].join("\n");
}

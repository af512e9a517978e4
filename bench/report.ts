/**
 * The run's summary as text, laid out like etcd's benchmark report (seconds,
 * histogram of ∎ bars, latency distribution), and as JSON.
 */
import type { BenchResult } from "./runner.js";
import { histogramBarWidthMax, percentilesReported } from "./stats.js";

function secs(ms: number): string {
  return Number.isNaN(ms) ? "n/a" : (ms / 1000).toFixed(4);
}

function describeRun(r: BenchResult): string {
  const read = r.workload === "range" ? `, ${r.consistency === "l" ? "linearizable" : "serializable"}` : "";
  return `${r.workload}${read}: ${r.clients} clients over ${r.conns} conns to ${r.endpoints.join(",")}, key space ${r.keySpace}, key ${r.keySize} B, value ${r.valSize} B`;
}

/** formatHistogram draws the histogram rows: upper bound in seconds, count, and a bar scaled to the largest bucket. */
export function formatHistogram(r: BenchResult): string[] {
  const buckets = r.latency.histogram;
  const countMax = Math.max(1, ...buckets.map((b) => b.count));
  const countWidth = String(countMax).length + 2;
  return buckets.map((b) => {
    const bar = "∎".repeat(Math.round((b.count * histogramBarWidthMax) / countMax));
    return `  ${secs(b.upperMs)} ${`[${b.count}]`.padEnd(countWidth)}\t|${bar}`;
  });
}

/** formatSummary is the human-readable report. */
export function formatSummary(r: BenchResult): string {
  const l = r.latency;
  const lines: string[] = [
    describeRun(r),
    "",
    "Summary:",
    `  Total:\t${secs(r.totalMs)} secs.`,
    `  Slowest:\t${secs(l.slowestMs)} secs.`,
    `  Fastest:\t${secs(l.fastestMs)} secs.`,
    `  Average:\t${secs(l.averageMs)} secs.`,
    `  Stddev:\t${secs(l.stddevMs)} secs.`,
    `  Requests/sec:\t${r.requestsPerSec.toFixed(4)}`,
    `  Requests:\t${r.requests} (${r.succeeded} ok, ${r.failed} failed)`,
  ];
  if (r.preloadMs > 0) lines.push(`  Preload:\t${secs(r.preloadMs)} secs. for ${r.keySpace} keys`);
  const counters = Object.entries(r.counters);
  if (counters.length > 0) lines.push(`  Counters:\t${counters.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  lines.push(`  Client CPU:\t${r.clientCpuMsPerRequest.toFixed(3)} ms per request`);
  if (l.count > 0) {
    lines.push("", "Response time histogram:", ...formatHistogram(r), "", "Latency distribution:");
    for (const p of percentilesReported) lines.push(`  ${p}% in ${secs(l.percentilesMs[String(p)] ?? Number.NaN)} secs.`);
  }
  const errors = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length > 0) {
    lines.push("", "Error distribution:");
    for (const [message, count] of errors) lines.push(`  [${count}]\t${message}`);
  }
  return `${lines.join("\n")}\n`;
}

/** formatJson is the machine-readable report: the whole result, durations in milliseconds. */
export function formatJson(r: BenchResult): string {
  return `${JSON.stringify(r, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value), 2)}\n`;
}

/**
 * Compares the engines on the same seeds (so the same fault mixes, workload
 * and nemesis draws) and prints a Markdown table:
 *
 *   node --import tsx test/sim/compare.ts [--seeds N] [--first-seed S]
 *
 * Every seed must also pass its checks; a violating seed is reported and the
 * exit code is 1.
 */
import { engines } from "./engines.js";
import { MeasureTotals } from "./measures.js";
import type { MeasureSummary } from "./measures.js";
import { runSeed } from "./run.js";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i < 0 ? undefined : process.argv[i + 1];
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`${name} needs a non-negative integer`);
  return Number(value);
}

function main(): void {
  const seeds = flag("--seeds", 200);
  const first = flag("--first-seed", 1);
  const summaries = new Map<string, MeasureSummary>();
  let failed = false;
  for (const name of engines.keys()) {
    const totals = new MeasureTotals();
    for (let seed = first; seed < first + seeds; seed++) {
      const result = runSeed({ engine: name, seed });
      totals.add(result.measures);
      if (result.violations.length > 0 || result.unknown) {
        failed = true;
        process.stderr.write(`${name} seed ${seed}: ${result.violations.map((v) => v.invariant).join(", ") || "unknown"}\n`);
      }
    }
    summaries.set(name, totals.summary());
  }
  const names = [...summaries.keys()];
  const row = (label: string, cell: (s: MeasureSummary) => string): string =>
    `| ${label} | ${names.map((n) => cell(summaries.get(n) as MeasureSummary)).join(" | ")} |`;
  const lines = [
    `Seeds ${first}..${first + seeds - 1}, every engine on the same seeds.`,
    "",
    `| measure | ${names.join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
    row("client commands committed", (s) => String(s.commands)),
    row("peer messages per committed command", (s) => s.messagesPerCommand.toFixed(1)),
    row("fsyncs (persisted Readies) per committed command", (s) => s.fsyncsPerCommand.toFixed(2)),
    row("commit latency, ticks (mean / p50 / p99)", (s) => `${s.commitLatencyTicks.mean.toFixed(1)} / ${s.commitLatencyTicks.p50.toFixed(1)} / ${s.commitLatencyTicks.p99.toFixed(1)}`),
    row("leader crash → commit by a newer leader, ticks (mean / p50 / p99 / max)", (s) => {
      const d = s.failoverTicks;
      return `${d.mean.toFixed(1)} / ${d.p50.toFixed(1)} / ${d.p99.toFixed(1)} / ${d.max.toFixed(1)}`;
    }),
    row("leader crashes timed", (s) => String(s.failoverTicks.count)),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  process.exitCode = failed ? 1 : 0;
}

main();

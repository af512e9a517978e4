/**
 * The simulator's command line:
 *
 *   npm run sim -- --engine raft --seeds N [--first-seed S] [--fault NAME]... [--verbose]
 *   npm run sim -- --engine raft --seed S [--fault NAME]... [--verbose]
 *   npm run sim -- --engine raft --seeds N --stats      # also: messages, fsyncs, latency, failover
 *
 * The last line printed is always `N seeds, V violations, U unknown, O ops checked`
 * (V counts seeds with at least one violation); the exit code is 1 when V > 0.
 */
import { performance } from "node:perf_hooks";
import { engines } from "./engines.js";
import { formatSummary, MeasureTotals } from "./measures.js";
import { runSeed } from "./run.js";
import type { SeedResult } from "./run.js";

interface CliOptions {
  engine: string;
  seeds: number;
  firstSeed: number;
  single: boolean;
  faults: string[];
  verbose: boolean;
  stats: boolean;
  stepBudget: number;
  tailLength: number;
}

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: npm run sim -- --engine NAME (--seeds N [--first-seed S] | --seed S) [--fault NAME]... [--step-budget N] [--tail N] [--verbose] [--stats]\n`,
  );
  process.exit(2);
}

function parseInteger(flag: string, value: string | undefined, min: number): number {
  if (value === undefined || !/^\d+$/.test(value)) usage(`${flag} needs a non-negative integer`);
  const n = Number(value);
  if (n < min) usage(`${flag} must be at least ${min}`);
  return n;
}

function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = { engine: "raft", seeds: 1, firstSeed: 1, single: false, faults: [], verbose: false, stats: false, stepBudget: 2_000_000, tailLength: 30 };
  let sawSeeds = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? "";
    const value = argv[i + 1];
    switch (flag) {
      case "--engine":
        if (value === undefined) usage("--engine needs a name");
        options.engine = value;
        i++;
        break;
      case "--seeds":
        options.seeds = parseInteger(flag, value, 1);
        sawSeeds = true;
        i++;
        break;
      case "--first-seed":
        options.firstSeed = parseInteger(flag, value, 0);
        i++;
        break;
      case "--seed":
        options.firstSeed = parseInteger(flag, value, 0);
        options.single = true;
        i++;
        break;
      case "--fault":
        if (value === undefined) usage("--fault needs a name");
        options.faults.push(value);
        i++;
        break;
      case "--step-budget":
        options.stepBudget = parseInteger(flag, value, 1);
        i++;
        break;
      case "--tail":
        options.tailLength = parseInteger(flag, value, 1);
        i++;
        break;
      case "--verbose":
        options.verbose = true;
        break;
      case "--stats":
        options.stats = true;
        break;
      default:
        usage(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  if (options.single && sawSeeds) usage("--seed and --seeds exclude each other");
  if (options.single) options.seeds = 1;
  const engine = engines.get(options.engine);
  if (engine === undefined) usage(`unknown engine ${JSON.stringify(options.engine)}; known: ${[...engines.keys()].join(", ")}`);
  for (const fault of options.faults) {
    if (!engine.faultNames.includes(fault)) usage(`unknown fault ${JSON.stringify(fault)}; ${engine.name} has: ${engine.faultNames.join(", ")}`);
  }
  return options;
}

function replayCommand(options: CliOptions, seed: number): string {
  const faults = options.faults.map((f) => ` --fault ${f}`).join("");
  return `npm run sim -- --engine ${options.engine} --seed ${seed}${faults}`;
}

function printViolations(options: CliOptions, result: SeedResult): void {
  const lines: string[] = [`seed ${result.seed}: VIOLATION`];
  for (const v of result.violations) lines.push(`  ${v.invariant}: ${v.detail}`);
  lines.push("  last events:");
  lines.push(...result.traceTail);
  lines.push(`  replay: ${replayCommand(options, result.seed)}`);
  process.stdout.write(lines.join("\n") + "\n");
}

function printStats(result: SeedResult): void {
  const s = result.stats;
  const lines = [
    `seed ${result.seed}`,
    result.mix,
    `ticks=${result.ticks} events=${s.events} delivered=${s.delivered} dropped=${s.dropped} duplicated=${s.duplicated}`,
    `leaderChanges=${s.leaderChanges} maxTerm=${s.maxTerm} maxApplied=${s.maxApplied} proposals=${s.proposals}`,
    `crashes=${s.crashes} partitions=${s.partitions} confChanges=${s.confChanges} transfers=${s.transfers} compactions=${s.compactions} snapshotsInstalled=${s.snapshotsInstalled}`,
    `ops: ok=${s.opsOk} indeterminate=${s.opsIndeterminate} readsAbandoned=${s.readsAbandoned} checked=${result.opsChecked} checkerSteps=${s.checkerSteps}${result.unknown ? " (UNKNOWN)" : ""}`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const faults: Record<string, boolean> = {};
  for (const f of options.faults) faults[f] = true;
  let violations = 0;
  let unknown = 0;
  let opsChecked = 0;
  let ticks = 0;
  const totals = new MeasureTotals();
  const started = performance.now();
  for (let seed = options.firstSeed; seed < options.firstSeed + options.seeds; seed++) {
    const result = runSeed({ engine: options.engine, seed, faults, stepBudget: options.stepBudget, tailLength: options.tailLength });
    opsChecked += result.opsChecked;
    ticks += result.ticks;
    totals.add(result.measures);
    if (result.unknown) unknown++;
    if (options.single || options.verbose) printStats(result);
    if (options.single) process.stdout.write(`digest: ${result.digest}\n`);
    if (result.violations.length > 0) {
      violations++;
      printViolations(options, result);
    } else if (result.unknown) {
      process.stdout.write(`seed ${seed}: linearizability UNKNOWN (step budget exhausted); replay: ${replayCommand(options, seed)}\n`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  if (options.verbose || !options.single) {
    process.stderr.write(`${(options.seeds / seconds).toFixed(1)} seeds/s, ${Math.round(ticks / seconds)} simulated ticks/s (${seconds.toFixed(1)} s)\n`);
  }
  if (options.stats) process.stdout.write(formatSummary(options.engine, totals.summary()) + "\n");
  process.stdout.write(`${options.seeds} seeds, ${violations} violations, ${unknown} unknown, ${opsChecked} ops checked\n`);
  process.exitCode = violations > 0 ? 1 : 0;
}

main();

/**
 * The `synod bench` subcommand: a closed-loop load generator for any etcd v3
 * endpoint (Synod or etcd), modelled on etcd's `benchmark` tool.
 */
import type { Command } from "commander";
import type { BenchFlags } from "./options.js";
import { benchDefaults, BenchOptionError, optionsFromFlags, workloadNames } from "./options.js";
import { formatJson, formatSummary } from "./report.js";
import { runBench } from "./runner.js";

/** addBenchCommand registers `bench <put|range|txn-cas>` and its flags on `program`; returns the new subcommand. */
export function addBenchCommand(program: Command): Command {
  return program
    .command("bench")
    .description("benchmark an etcd v3 cluster (Synod or etcd) with closed-loop clients")
    .argument("<workload>", `one of ${workloadNames.join(", ")}`)
    .option("--endpoints <list>", "comma-separated host:port (or http://host:port) of the members", benchDefaults.endpoints)
    .option("--clients <n>", "concurrent request loops", String(benchDefaults.clients))
    .option("--conns <n>", "gRPC connections shared by the loops, spread over the endpoints", String(benchDefaults.conns))
    .option("--total <n>", `requests to send (default ${benchDefaults.total}; excludes --duration)`)
    .option("--duration <time>", "run for this long instead, e.g. 30s, 2m")
    .option("--key-space <n>", "distinct keys; requests draw keys from them", String(benchDefaults.keySpace))
    .option("--key-size <bytes>", "key length, prefix included", String(benchDefaults.keySize))
    .option("--val-size <bytes>", "value length", String(benchDefaults.valSize))
    .option("--key-prefix <text>", "prefix of every key", benchDefaults.keyPrefix)
    .option("--consistency <l|s>", "range: l linearizable, s serializable", benchDefaults.consistency)
    .option("--no-preload", "range and txn-cas: do not write the key space before the run")
    .option("--sequential-keys", "walk the key space in order instead of at random", false)
    .option("--seed <n>", "seed of the key sequence", String(benchDefaults.seed))
    .option("--timeout <time>", "deadline of each request", `${benchDefaults.timeoutMs / 1000}s`)
    .option("--json", "print the result as JSON", false)
    .option("--no-progress", "no progress bar (it is drawn only when stderr is a terminal anyway)")
    .action(async (workload: string, flags: BenchFlags) => {
      let options;
      try {
        options = optionsFromFlags(workload, flags);
      } catch (error) {
        if (!(error instanceof BenchOptionError)) throw error;
        process.stderr.write(`synod bench: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      const result = await runBench(options);
      process.stdout.write(options.json ? formatJson(result) : formatSummary(result));
      if (result.succeeded === 0) process.exitCode = 1;
    });
}

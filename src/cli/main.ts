import { Command } from "commander";
import { fileURLToPath } from "node:url";
import { addBenchCommand } from "../../bench/command.js";
import { ConfigError } from "../server/config.js";
import { runDev } from "./dev.js";
import { serve } from "./serve.js";
import { addSnapshotCommand } from "./snapshot.js";
import type { StartFlags } from "./start.js";
import { addStartFlags, configFromFlags } from "./start.js";

/** main is the `synod` command: start one member, or a local development cluster. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("synod")
    .description("Synod: a strongly consistent, replicated key-value store that speaks the etcd v3 API")
    .showHelpAfterError()
    .exitOverride();
  let exitCode = 0;

  addStartFlags(program.command("start").description("run one member (etcd's flags)")).action(async (flags: StartFlags) => {
    exitCode = await serve(configFromFlags(flags));
  });

  program
    .command("dev")
    .description("run a local 3-member cluster on loopback, data under ./synod-data")
    .option("--data-dir <path>", "where the three members keep their data", "synod-data")
    .option("--consensus <engine>", "raft or paxos", "raft")
    .option("--base-port <port>", "first client port; members use base, base+10, base+20", "2379")
    .action(async (flags: { dataDir: string; consensus: string; basePort: string }) => {
      // Children run this same file, compiled or under tsx (execArgv carries the loader).
      exitCode = await runDev({ dataDir: flags.dataDir, consensus: flags.consensus, basePort: Number(flags.basePort) }, fileURLToPath(import.meta.url));
    });

  addBenchCommand(program);
  addSnapshotCommand(program, (code) => {
    exitCode = code;
  });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`synod: ${error.message}\n`);
      return 2;
    }
    if (isCommanderExit(error)) return error.exitCode;
    throw error;
  }
  return exitCode;
}

function isCommanderExit(error: unknown): error is { exitCode: number } {
  return typeof error === "object" && error !== null && "exitCode" in error && typeof (error).exitCode === "number";
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`synod: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}

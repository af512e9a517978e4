/**
 * Runs `bench` on its own, without the rest of the `synod` command:
 * `node --import tsx bench/cli.ts put --endpoints 127.0.0.1:2379 --clients 16`.
 */
import { Command } from "commander";
import { addBenchCommand } from "./command.js";

const program = new Command("synod").showHelpAfterError();
addBenchCommand(program);
program.parseAsync(["bench", ...process.argv.slice(2)], { from: "user" }).catch((error: unknown) => {
  process.stderr.write(`synod bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});

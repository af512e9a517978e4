/**
 * `synod snapshot save|status|restore`: etcdctl's backup commands for Synod's
 * backup files (see src/server/backup-format.ts), with etcdctl's flags and
 * output, so the same runbooks work.
 */
import { renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import * as grpc from "@grpc/grpc-js";
import { etcdService } from "../api/etcd/protos.js";
import { verifyBackupFile } from "../server/backup-file.js";
import type { BackupFileInfo } from "../server/backup-file.js";
import { BackupFormatError } from "../server/backup-format.js";
import { ConfigError, parseInitialCluster, splitList } from "../server/config.js";
import { fsyncPath } from "../storage/durable-files.js";
import { restoreBackup } from "../server/restore.js";

/** CommandError is a failure the command reports as one "Error: …" line and exit code 1, as etcdctl does. */
export class CommandError extends Error {
  override readonly name = "CommandError";
}

/** addSnapshotCommand registers `snapshot save|status|restore`; `done` receives each run's exit code. */
export function addSnapshotCommand(program: Command, done: (exitCode: number) => void): Command {
  const snapshot = program.command("snapshot").description("back up a member's data, inspect a backup, restore one into a new cluster");
  const run = (action: () => Promise<void>): (() => Promise<void>) => async () => {
    try {
      await action();
      done(0);
    } catch (error) {
      if (!(error instanceof CommandError || error instanceof BackupFormatError || error instanceof ConfigError || isSystemError(error))) throw error;
      process.stderr.write(`Error: ${error.message}\n`);
      done(1);
    }
  };

  snapshot
    .command("save")
    .description("stream a consistent backup of one member's data into FILE")
    .argument("<file>", "where to write the backup")
    .requiredOption("--endpoints <host:port>", "the ONE member to take the backup from")
    .option("--command-timeout <seconds>", "give up if the backup is not complete by then", "300")
    .action((file: string, flags: { endpoints: string; commandTimeout: string }) =>
      run(async () => {
        const endpoints = splitList(flags.endpoints).map((e) => e.replace(/^https?:\/\//, ""));
        if (endpoints.length !== 1) throw new CommandError(`snapshot save expects one endpoint, got ${endpoints.length}`);
        const timeoutSeconds = Number(flags.commandTimeout);
        if (!(timeoutSeconds > 0)) throw new CommandError(`--command-timeout: "${flags.commandTimeout}" is not a positive number of seconds`);
        await saveBackup({ endpoint: endpoints[0] ?? "", file, deadlineMs: Date.now() + timeoutSeconds * 1000 });
        process.stdout.write(`Snapshot saved at ${file}\n`);
      })(),
    );

  snapshot
    .command("status")
    .description("check a backup file and print its hash, revision, row count and size")
    .argument("<file>", "the backup")
    .option("-w, --write-out <format>", "simple, table or json", "simple")
    .action((file: string, flags: { writeOut: string }) =>
      run(() => {
        const format = flags.writeOut;
        if (format !== "simple" && format !== "table" && format !== "json") throw new CommandError(`--write-out must be simple, table or json, not "${format}"`);
        process.stdout.write(formatStatus(verifyBackupFile(file), format));
        return Promise.resolve();
      })(),
    );

  snapshot
    .command("restore")
    .description("build a new member's data directory from a backup")
    .argument("<file>", "the backup")
    .option("--name <name>", "this member's name in --initial-cluster", "default")
    .option("--data-dir <path>", "the data directory to create (default: ./<name>.synod)")
    .option("--initial-cluster <list>", "name=peerURL,… of the new cluster's members", "default=http://localhost:2380")
    .option("--initial-cluster-token <token>", "the new cluster's token", "etcd-cluster")
    .option("--initial-advertise-peer-urls <urls>", "this member's peer URLs", "http://localhost:2380")
    .option("--consensus <engine>", "raft or paxos (default: the engine the backup came from)")
    .action((file: string, flags: { name: string; dataDir?: string; initialCluster: string; initialClusterToken: string; initialAdvertisePeerUrls: string; consensus?: string }) =>
      run(async () => {
        const consensus = flags.consensus;
        if (consensus !== undefined && consensus !== "raft" && consensus !== "paxos") throw new CommandError(`--consensus must be raft or paxos, not "${consensus}"`);
        const dataDir = flags.dataDir ?? `${flags.name}.synod`;
        const result = await restoreBackup({
          backupPath: file,
          name: flags.name,
          initialCluster: parseInitialCluster(flags.initialCluster),
          initialClusterToken: flags.initialClusterToken,
          initialAdvertisePeerUrls: splitList(flags.initialAdvertisePeerUrls),
          dataDir,
          consensus,
        });
        process.stderr.write(
          `restored snapshot ${file} at revision ${result.backup.header.revision} into ${dataDir} (${result.rowsRestored} rows, --consensus ${result.engine})\n`,
        );
      })(),
    );
  return snapshot;
}

/**
 * saveBackup streams Maintenance.Snapshot from one member into `file`.part,
 * fsyncs it, checks it (checksum and structure) and renames it to `file`: a
 * failed or interrupted save leaves no file under the final name.
 */
export async function saveBackup(options: { endpoint: string; file: string; deadlineMs: number }): Promise<BackupFileInfo> {
  const partPath = `${options.file}.part`;
  const definition = etcdService("etcdserverpb.Maintenance")["Snapshot"];
  if (definition === undefined) throw new Error("Maintenance/Snapshot is missing from the protos");
  const client = new grpc.Client(options.endpoint, grpc.credentials.createInsecure());
  const handle = await open(partPath, "w");
  try {
    const call = client.makeServerStreamRequest<object, { blob: Buffer }>(
      definition.path,
      (request: object) => definition.requestSerialize(request),
      (bytes: Buffer) => definition.responseDeserialize(bytes) as { blob: Buffer },
      {},
      { deadline: options.deadlineMs },
    );
    try {
      // Iterating pulls one message at a time: the server sends no faster than the file takes them.
      for await (const response of call as AsyncIterable<{ blob: Buffer }>) await handle.write(response.blob);
    } catch (error) {
      throw new CommandError(`snapshot stream from ${options.endpoint} failed: ${(error as { details?: string }).details ?? (error as Error).message}`, { cause: error });
    }
    await handle.sync();
    await handle.close();
    const info = verifyBackupFile(partPath);
    renameSync(partPath, options.file);
    fsyncPath(dirname(resolve(options.file)));
    return info;
  } catch (error) {
    await handle.close().catch(() => undefined);
    rmSync(partPath, { force: true });
    throw error;
  } finally {
    client.close();
  }
}

/** formatStatus prints a verified backup as etcdctl prints `snapshot status`. */
export function formatStatus(info: BackupFileInfo, format: "simple" | "table" | "json"): string {
  // etcd's hash is a CRC-32 of its database; a backup's is the first 32 bits of its SHA-256.
  const hash = info.digest.readUInt32BE(0);
  const { revision, rowCount } = info.header;
  switch (format) {
    case "json":
      return `${JSON.stringify({ hash, revision, totalKey: rowCount, totalSize: info.sizeBytes })}\n`;
    case "simple":
      return `${hash.toString(16).padStart(8, "0")}, ${revision}, ${rowCount}, ${humanBytes(info.sizeBytes)}\n`;
    case "table":
      return formatTable(["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"], [hash.toString(16).padStart(8, "0"), String(revision), String(rowCount), humanBytes(info.sizeBytes)]);
  }
}

/** formatTable draws one header row and one data row as etcdctl's tables: headers centred, cells right-aligned. */
function formatTable(headers: readonly string[], cells: readonly string[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, (cells[i] ?? "").length));
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+\n`;
  const centred = headers.map((h, i) => {
    const gap = (widths[i] ?? 0) - h.length;
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + h + " ".repeat(gap - left);
  });
  const right = cells.map((c, i) => c.padStart(widths[i] ?? 0));
  const row = (values: readonly string[]): string => `| ${values.join(" | ")} |\n`;
  return rule + row(centred) + rule + row(right) + rule;
}

/** humanBytes writes a size in SI units as etcdctl does (go-humanize): "20 kB", "2.1 MB". */
export function humanBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const exponent = Math.min(Math.floor(Math.log(bytes) / Math.log(1000)), units.length - 1);
  const value = Math.floor((bytes / 1000 ** exponent) * 10 + 0.5) / 10;
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${units[exponent]}`;
}


function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string" && (error as NodeJS.ErrnoException).syscall !== undefined;
}

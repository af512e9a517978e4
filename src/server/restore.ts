import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { nodeId } from "../consensus/types.js";
import { encodeMeta, metaKey } from "../kv/layout.js";
import { fsyncPath } from "../storage/durable-files.js";
import { Storage } from "../storage/storage.js";
import type { BackupFileInfo } from "./backup-file.js";
import { backupFileRows, verifyBackupFile } from "./backup-file.js";
import type { BackupRow } from "./backup-format.js";
import type { InitialMember } from "./config.js";
import { ConfigError } from "./config.js";
import { engineKindOf } from "./engines.js";
import type { EngineKind } from "./engines.js";
import { isMembershipRecord, stateMachineTableName } from "./kv-state-machine.js";
import { mainGroup } from "./synod-server.js";

/** restoreBatchBytesMax bounds the row bytes written in one commit while restoring. */
const restoreBatchBytesMax = 8 * 1024 * 1024;

/** RestoreOptions are `synod snapshot restore`'s flags, as etcdctl names them. */
export interface RestoreOptions {
  readonly backupPath: string;
  readonly name: string;
  readonly initialCluster: readonly InitialMember[];
  readonly initialClusterToken: string;
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly dataDir: string;
  /** consensus is the new cluster's engine; absent: the engine the backup came from. */
  readonly consensus: EngineKind | undefined;
}

/** RestoreResult says what the new data directory holds. */
export interface RestoreResult {
  readonly backup: BackupFileInfo;
  /** rowsRestored counts the table rows written (the backup's, less its member and alarm records). */
  readonly rowsRestored: number;
  readonly engine: EngineKind;
}

/**
 * restoreBackup builds a new member's data directory from a backup, as
 * `etcdctl snapshot restore` does: the backup's MVCC data and leases (same
 * revision, keys and leases), the new cluster's bootstrap membership from
 * `--initial-cluster`, a fresh consensus log, and none of the old cluster's
 * member or alarm records.
 *
 * The applied index recorded in the table belonged to the old cluster's log;
 * the new log starts again at 1 (its bootstrap entry), so it is reset to 0
 * and the new log's entries are all applied on top of the restored data.
 *
 * Bad input changes nothing: the flags and the whole file (checksum, then
 * structure) are checked before anything is written, an existing non-empty
 * data directory is refused, and the directory is built beside its target
 * and renamed into place only when complete, so a crash leaves no half-built
 * data directory where a member would start from it.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const self = options.initialCluster.find((m) => m.name === options.name);
  if (self === undefined) throw new ConfigError(`--initial-cluster has no member named "${options.name}" (--name)`);
  const advertised = [...options.initialAdvertisePeerUrls].sort().join(",");
  if ([...self.peerUrls].sort().join(",") !== advertised) {
    throw new ConfigError(`--initial-cluster gives ${options.name} the peer URLs ${self.peerUrls.join(",")}, but --initial-advertise-peer-urls is ${options.initialAdvertisePeerUrls.join(",")}`);
  }
  const target = resolve(options.dataDir);
  if (existsSync(target) && readdirSync(target).length > 0) throw new ConfigError(`data-dir "${options.dataDir}" exists`);

  const backup = verifyBackupFile(options.backupPath);
  const building = `${target}.restoring`;
  rmSync(building, { recursive: true, force: true });
  let rowsRestored = 0;
  const storage = Storage.open({ dataDir: building });
  let engine: EngineKind;
  try {
    engine = engineKindOf(building, options.consensus ?? backup.header.engine, () => undefined);
    const table = storage.table(stateMachineTableName);
    let batch: BackupRow[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      const rows = batch;
      batch = [];
      batchBytes = 0;
      await storage.transaction(() => {
        for (const row of rows) table.putSync(row.key, row.value);
      });
      rowsRestored += rows.length;
    };
    const rows = backupFileRows(options.backupPath);
    for (let next = rows.next(); next.done !== true; next = rows.next()) {
      for (const row of next.value) {
        if (isMembershipRecord(row.key)) continue;
        batch.push(row);
        batchBytes += row.key.length + row.value.length;
        if (batchBytes >= restoreBatchBytesMax) await flush();
      }
    }
    await flush();
    // A new cluster numbers its initial members 1..n (see initialMembersOf in synod-server.ts).
    const voters = options.initialCluster.map((_, i) => nodeId(i + 1));
    await storage.transaction(() => table.putSync(Buffer.from(metaKey("consistentIndex")), Buffer.from(encodeMeta(0))));
    await storage.group(mainGroup).saveBootstrap({ voters, votersOutgoing: [], learners: [] });
  } catch (error) {
    await storage.close();
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
  await storage.close();
  // rename(2) replaces an empty directory, which etcdctl accepts as a target too.
  renameSync(building, target);
  fsyncPath(dirname(target));
  return { backup, rowsRestored, engine };
}


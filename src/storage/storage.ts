import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import type { Database, RootDatabase, Transaction } from "lmdb";
import type { GroupId } from "../consensus/types.js";
import { assert } from "../consensus/types.js";
import { StorageError } from "./errors.js";
import { GroupStorage } from "./group-storage.js";
import { DirLock } from "./lock.js";

/** envFileName is the LMDB environment file inside a data directory (LMDB adds `<name>-lock` beside it). */
export const envFileName = "synod.mdb";

/** consensusTableName is the LMDB sub-database that holds every group's consensus records. */
export const consensusTableName = "consensus";

/** StorageOptions configures one server's storage; every limit has a name and a default. */
export interface StorageOptions {
  /** dataDir is created if missing; it holds the environment and the lock file. */
  readonly dataDir: string;
  /** mapSizeBytes is the LMDB map size, fixed up front: the most the environment can hold. */
  readonly mapSizeBytes?: number;
  /** tablesMax bounds the named sub-databases (the consensus table plus the state machine's tables). */
  readonly tablesMax?: number;
  /** pendingWritesMax bounds the writes waiting for the next commit; beyond it writes are refused ("overloaded"). */
  readonly pendingWritesMax?: number;
  /** snapshotChunkBytes is the size of each stored piece of snapshot data. */
  readonly snapshotChunkBytes?: number;
}

/** defaultStorageLimits are the production defaults of StorageOptions. */
export const defaultStorageLimits = {
  mapSizeBytes: 8 * 1024 * 1024 * 1024,
  tablesMax: 32,
  pendingWritesMax: 65_536,
  snapshotChunkBytes: 1024 * 1024,
} as const;

/**
 * ReadView is a pinned LMDB read transaction: reads that pass it see the
 * environment as of the commit it was taken after, whatever commits later,
 * until `done()` releases it (LMDB cannot reuse the pages it sees meanwhile).
 */
export type ReadView = Transaction;

/** Table is an LMDB sub-database with binary keys and values, for the state machine's tables. */
export type Table = Database<Buffer, Buffer>;

/** StorageStats counts what the storage did since it was opened. */
export interface StorageStats {
  /** commits is the number of durable LMDB commits (each one fsync of data, one of the meta page). */
  readonly commits: number;
  /** writes is the number of writes (persist, snapshot, compaction, caller transaction) those commits held. */
  readonly writes: number;
  /** lastTxnId is LMDB's id of the last write transaction (it grows by one per commit). */
  readonly lastTxnId: number;
}

interface PendingWrite {
  readonly run: () => void;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Storage is one server's durable state: a single LMDB environment in the data
 * directory, shared by every consensus group it hosts and by the state
 * machine's tables, and held exclusively through a lock file.
 *
 * Group commit: every write (a group's persist, snapshot, compaction, or a
 * caller's `transaction`) is queued; at the end of the event-loop turn
 * (setImmediate) all queued writes run inside ONE LMDB write transaction and
 * are committed with one durable commit. No write's promise resolves before
 * that commit is on disk.
 *
 * Durability: the environment runs LMDB's classic commit (overlappingSync off):
 * data pages are written and fdatasync'ed, then the meta page is written through
 * an O_DSYNC descriptor. A commit that returned is durable, and a crash at any
 * moment leaves the previous or the new commit, never a mix. The commit runs
 * synchronously (`transactionSync`) so that any failure inside the batch aborts
 * it completely; the event loop waits for the disk meanwhile, and the writes
 * that arrive during that wait form the next batch.
 *
 * Failure: a write that is invalid (a log gap, a rewrite under a snapshot) is
 * refused alone, before it writes anything. Any other failure inside a batch
 * (a caller's function throwing, corruption found, the map being full) aborts
 * the whole batch, rejects every write in it, and puts the storage in the
 * "failed" state: every later call fails, and the server must restart from
 * what is on disk.
 */
export class Storage {
  readonly dataDir: string;
  readonly snapshotChunkBytes: number;
  private readonly env: RootDatabase<Buffer, Buffer>;
  private readonly consensus: Table;
  private readonly tables = new Map<string, Table>();
  private readonly groups = new Map<GroupId, GroupStorage<unknown>>();
  private readonly lock: DirLock;
  private readonly pendingWritesMax: number;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private inTransaction = false;
  private failure: StorageError | null = null;
  private closed = false;
  private commitCount = 0;
  private writeCount = 0;
  private lastTxnId = 0;

  private constructor(options: StorageOptions, lock: DirLock) {
    this.dataDir = options.dataDir;
    this.lock = lock;
    this.pendingWritesMax = options.pendingWritesMax ?? defaultStorageLimits.pendingWritesMax;
    this.snapshotChunkBytes = options.snapshotChunkBytes ?? defaultStorageLimits.snapshotChunkBytes;
    assert(this.snapshotChunkBytes > 0, "snapshotChunkBytes must be positive");
    this.env = open<Buffer, Buffer>({
      path: join(options.dataDir, envFileName),
      noSubdir: true,
      mapSize: options.mapSizeBytes ?? defaultStorageLimits.mapSizeBytes,
      maxDbs: options.tablesMax ?? defaultStorageLimits.tablesMax,
      compression: false,
      overlappingSync: false,
      keyEncoding: "binary",
      encoding: "binary",
    });
    this.consensus = this.openTable(consensusTableName);
  }

  /**
   * open claims the data directory (creating it if needed) and opens its
   * environment. It throws a StorageError "locked" when another process holds it.
   */
  static open(options: StorageOptions): Storage {
    mkdirSync(options.dataDir, { recursive: true });
    const lock = DirLock.acquire(options.dataDir);
    try {
      return new Storage(options, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** group returns the storage of one consensus group; `H` is that group's engine hard state. */
  group<H>(id: GroupId): GroupStorage<H> {
    this.checkUsable();
    let group = this.groups.get(id);
    if (group === undefined) {
      group = new GroupStorage<unknown>(this, this.consensus, id);
      this.groups.set(id, group);
    }
    return group as GroupStorage<H>;
  }

  /**
   * table opens (once) a named sub-database for the state machine, with binary
   * keys and values. Write to it only inside `transaction`, with putSync/removeSync.
   */
  table(name: string): Table {
    this.checkUsable();
    assert(name !== consensusTableName, `table name ${name} is reserved`);
    return this.openTable(name);
  }

  /**
   * transaction runs `fn` inside the next group commit's write transaction, so
   * its writes (to tables, or a group's `writeAppliedIndex`) commit atomically
   * with everything else in that batch. `fn` must be synchronous; if it throws,
   * the batch is aborted and the storage fails. Resolves once durable.
   */
  transaction(fn: () => void): Promise<void> {
    return this.enqueue(fn);
  }

  /**
   * readView pins the last durable commit for reads (`table.getRange({ transaction })`);
   * the caller must release it with `done()`. Taken outside a batch only, so it
   * never sees writes that are not yet committed.
   */
  readView(): ReadView {
    this.checkUsable();
    assert(!this.inTransaction, "readView is taken outside the batch transaction");
    return this.env.useReadTransaction();
  }

  /** isInTransaction says whether the caller runs inside a batch's write transaction. */
  isInTransaction(): boolean {
    return this.inTransaction;
  }

  /**
   * tableUsedBytes is the space the pages of one table occupy (branch, leaf and
   * overflow pages): what its data holds now, unlike the file, which LMDB never
   * shrinks but whose freed pages it reuses.
   */
  tableUsedBytes(name: string): number {
    const stats = this.openTable(name).getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    return (stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages) * stats.pageSize;
  }

  /** stats counts commits and the writes they held. */
  stats(): StorageStats {
    return { commits: this.commitCount, writes: this.writeCount, lastTxnId: this.lastTxnId };
  }

  /**
   * close commits what is queued, closes the environment and releases the lock.
   * Later calls fail with "closed".
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pending.length > 0) this.flush();
    this.closed = true;
    await this.env.close();
    this.lock.release();
  }

  /** enqueue adds a write to the next batch; the group storages use it for theirs. */
  enqueue(run: () => void): Promise<void> {
    const unusable = this.unusableError();
    if (unusable !== null) return Promise.reject(unusable);
    if (this.pending.length >= this.pendingWritesMax) {
      return Promise.reject(
        new StorageError("overloaded", `${this.pending.length} writes already wait for a commit (pendingWritesMax)`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ run, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** checkUsable throws when the storage is closed or failed. */
  checkUsable(): void {
    const unusable = this.unusableError();
    if (unusable !== null) throw unusable;
  }

  private unusableError(): StorageError | null {
    if (this.closed) return new StorageError("closed", `storage in ${this.dataDir} is closed`);
    return this.failure;
  }

  private openTable(name: string): Table {
    let table = this.tables.get(name);
    if (table === undefined) {
      table = this.env.openDB<Buffer, Buffer>({
        name,
        keyEncoding: "binary",
        encoding: "binary",
        compression: false,
      });
      this.tables.set(name, table);
    }
    return table;
  }

  /** flush runs every queued write in one write transaction and commits it durably. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.failure !== null || this.closed) {
      const err = this.failure ?? new StorageError("closed", `storage in ${this.dataDir} is closed`);
      for (const write of batch) write.reject(err);
      return;
    }
    const refused = new Map<PendingWrite, unknown>();
    let culprit: PendingWrite | null = null;
    try {
      this.env.transactionSync(() => {
        this.inTransaction = true;
        this.lastTxnId = this.env.getWriteTxnId();
        try {
          for (const write of batch) {
            try {
              write.run();
            } catch (err) {
              // An invalid write checked itself before writing anything: refuse it alone.
              if (err instanceof StorageError && err.code === "invalidWrite") {
                refused.set(write, err);
              } else {
                culprit = write;
                throw err;
              }
            }
          }
        } finally {
          this.inTransaction = false;
        }
      });
    } catch (err) {
      this.failure = new StorageError("failed", `a commit in ${this.dataDir} failed; storage must be reopened`, {
        cause: err,
      });
      for (const write of batch) write.reject(write === culprit || err instanceof StorageError ? err : this.failure);
      return;
    }
    this.commitCount++;
    this.writeCount += batch.length;
    for (const write of batch) {
      const err = refused.get(write);
      if (err === undefined) write.resolve();
      else write.reject(err);
    }
  }
}

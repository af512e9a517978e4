import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import type { Database, RootDatabase, Transaction } from "lmdb";
import type { GroupId } from "../consensus/types.js";
import { assert } from "../consensus/types.js";
import { StorageError } from "./errors.js";
import { GroupStorage } from "./group-storage.js";
import { DirLock } from "./lock.js";
import { fsyncPath } from "./durable-files.js";

/** envFileName is the LMDB environment file inside a data directory (LMDB adds `<name>-lock` beside it). */
export const envFileName = "synod.mdb";

/** defragFileName is where a defragment writes the compacted copy before renaming it over the environment file. */
export const defragFileName = `${envFileName}.defrag`;

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

/** Table is an LMDB sub-database with binary keys and values, for the state machine's tables. */
export type Table = Database<Buffer, Buffer>;

/**
 * ReadView pins one committed state of the environment: every read made with
 * its `transaction` sees that state, whatever commits after it. It must be
 * released with `done` (LMDB cannot reuse pages freed after the state it pins).
 */
export interface ReadView {
  readonly transaction: Transaction;
  done(): void;
}

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
  private env: RootDatabase<Buffer, Buffer>;
  private readonly envOptions: Parameters<typeof open>[0];
  private readonly consensus: Table;
  /** tables are the handles handed out; each forwards to its database in the current environment. */
  private readonly tables = new Map<string, Table>();
  /** databases are the open databases of the current environment, by table name; a defragment reopens them. */
  private readonly databases = new Map<string, Table>();
  /** boundMembers caches each table's methods bound to its current database; a reopen clears it. */
  private readonly boundMembers = new Map<string, Map<PropertyKey, unknown>>();
  /** readViewsOpen counts read views not yet done: a defragment cannot close the environment under them. */
  private readViewsOpen = 0;
  /**
   * yieldingViews are long-lived read views (a snapshot's pinned state) that
   * give way to a defragment: each callback releases its view just before the
   * swap; the owner takes a new one after it (onDefragmented).
   */
  private readonly yieldingViews = new Set<() => void>();
  private readonly defragmentListeners: (() => void)[] = [];
  /** writesHeld is set while a defragment copies the environment: queued writes wait for the new file. */
  private writesHeld = false;
  /** defragRunning is the defragment in progress, which `close` lets finish first. */
  private defragRunning: Promise<unknown> | undefined;
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
    this.envOptions = {
      path: join(options.dataDir, envFileName),
      noSubdir: true,
      mapSize: options.mapSizeBytes ?? defaultStorageLimits.mapSizeBytes,
      maxDbs: options.tablesMax ?? defaultStorageLimits.tablesMax,
      compression: false,
      overlappingSync: false,
      keyEncoding: "binary",
      encoding: "binary",
    };
    // A copy left by a defragment that crashed before its rename is incomplete or unneeded.
    rmSync(join(options.dataDir, defragFileName), { force: true });
    this.env = open<Buffer, Buffer>(this.envOptions);
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

  /**
   * readView pins the last committed state for a long read (a backup), which
   * never blocks writers: LMDB keeps the pages that state needs until `done`.
   * Outside a write transaction only, so the view never sees uncommitted writes.
   */
  readView(options: { readonly yieldToDefragment?: () => void } = {}): ReadView {
    this.checkUsable();
    assert(!this.inTransaction, "readView cannot be taken inside a write transaction");
    if (this.writesHeld) throw new StorageError("busy", "a defragment is running");
    const transaction = this.env.useReadTransaction();
    const yieldToDefragment = options.yieldToDefragment;
    if (yieldToDefragment === undefined) this.readViewsOpen++;
    else this.yieldingViews.add(yieldToDefragment);
    let released = false;
    return {
      transaction,
      done: () => {
        if (released) return;
        released = true;
        if (yieldToDefragment === undefined) this.readViewsOpen--;
        else this.yieldingViews.delete(yieldToDefragment);
        transaction.done();
      },
    };
  }

  /**
   * onDefragmented registers `listener` to run after each defragment swapped
   * the file in: views that yielded to it may be taken again.
   */
  onDefragmented(listener: () => void): void {
    this.defragmentListeners.push(listener);
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
    if (this.defragRunning !== undefined) await this.defragRunning;
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

  /**
   * openTable returns the handle of a named database. A handle forwards every
   * call to that database in the current environment, so handles stay valid
   * when a defragment replaces the environment.
   */
  private openTable(name: string): Table {
    let table = this.tables.get(name);
    if (table === undefined) {
      this.databases.set(name, this.openDatabase(name));
      const bound = new Map<PropertyKey, unknown>();
      this.boundMembers.set(name, bound);
      table = new Proxy({} as Table, {
        get: (_target, property) => {
          const database = this.databases.get(name);
          assert(database !== undefined, `table ${name} is not open`);
          const member: unknown = Reflect.get(database, property, database);
          if (typeof member !== "function") return member;
          let method = bound.get(property);
          if (method === undefined) {
            method = (member as (...args: unknown[]) => unknown).bind(database);
            bound.set(property, method);
          }
          return method;
        },
      });
      this.tables.set(name, table);
    }
    return table;
  }

  private openDatabase(name: string): Table {
    return this.env.openDB<Buffer, Buffer>({ name, keyEncoding: "binary", encoding: "binary", compression: false });
  }

  /**
   * defragment rewrites the environment file without its free pages, so the
   * file shrinks to what the data needs (LMDB reuses freed pages but never
   * gives them back to the file system). Steps:
   *
   * 1. Writes are held: queued and new writes wait (none is refused below
   *    pendingWritesMax, none is acknowledged before it is durable in the
   *    new file). Reads go on from the old file.
   * 2. LMDB's compacting copy (mdb_env_copy2 with MDB_CP_COMPACT, from one
   *    read transaction, so it holds every committed write) is written to
   *    `synod.mdb.defrag` and fsynced.
   * 3. In one synchronous step, so no read runs in between: the environment
   *    is closed, the copy renamed over `synod.mdb` (the commit point: a crash
   *    before it leaves the old file whole and the copy is deleted on the next
   *    open; after it, the new file is whole), the directory fsynced, the
   *    environment reopened and every table handle pointed at it.
   * 4. Held writes are committed in the new file.
   *
   * It is refused ("busy") while a read view (a backup) is open or another
   * defragment runs. A failure before the rename changes nothing; a failure
   * to reopen after it puts the storage in the failed state.
   */
  defragment(): Promise<{ beforeBytes: number; afterBytes: number }> {
    if (this.defragRunning !== undefined) return Promise.reject(new StorageError("busy", "a defragment is already running"));
    const running = this.runDefragment();
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    this.defragRunning = settled;
    void settled.then(() => {
      if (this.defragRunning === settled) this.defragRunning = undefined;
    });
    return running;
  }

  private async runDefragment(): Promise<{ beforeBytes: number; afterBytes: number }> {
    this.checkUsable();
    if (this.readViewsOpen > 0) throw new StorageError("busy", `${this.readViewsOpen} read view(s) (a backup) are open; defragment once they end`);
    const envPath = join(this.dataDir, envFileName);
    const copyPath = join(this.dataDir, defragFileName);
    const beforeBytes = statSync(envPath).size;
    this.writesHeld = true;
    try {
      rmSync(copyPath, { force: true });
      try {
        await this.env.backup(copyPath, true);
        fsyncPath(copyPath);
      } catch (error) {
        rmSync(copyPath, { force: true });
        throw new StorageError("maintenanceFailed", `defragment could not copy ${envPath}; nothing changed`, { cause: error });
      }
      this.checkUsable();
      if (this.readViewsOpen > 0) {
        rmSync(copyPath, { force: true });
        throw new StorageError("busy", "a read view opened during the defragment; nothing changed");
      }
      for (const release of [...this.yieldingViews]) release();
      this.swapEnvironment(copyPath, envPath);
    } finally {
      this.writesHeld = false;
      if (this.pending.length > 0 && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    // Writes flow again: views that yielded may be taken anew.
    for (const listener of this.defragmentListeners) listener();
    return { beforeBytes, afterBytes: statSync(envPath).size };
  }

  /** swapEnvironment closes the environment, renames the copy over it and reopens it, synchronously. */
  private swapEnvironment(copyPath: string, envPath: string): void {
    const closing = this.env.close();
    // lmdb-js closes at once when no asynchronous write is in flight (Storage writes only synchronously).
    assert((this.env as unknown as { status: string }).status === "closed", "the environment did not close synchronously");
    void closing;
    try {
      renameSync(copyPath, envPath);
      fsyncPath(this.dataDir);
    } catch (error) {
      // The old file is still in place: reopen it.
      this.reopen();
      rmSync(copyPath, { force: true });
      throw new StorageError("maintenanceFailed", `defragment could not rename its copy over ${envPath}; nothing changed`, { cause: error });
    }
    try {
      this.reopen();
    } catch (error) {
      this.failure = new StorageError("failed", `the defragmented ${envPath} could not be reopened; restart from it`, { cause: error });
      throw this.failure;
    }
  }

  private reopen(): void {
    this.env = open<Buffer, Buffer>(this.envOptions);
    for (const name of this.databases.keys()) this.databases.set(name, this.openDatabase(name));
    for (const bound of this.boundMembers.values()) bound.clear();
  }

  /** flush runs every queued write in one write transaction and commits it durably. */
  private flush(): void {
    this.flushScheduled = false;
    // While a defragment copies the file, writes wait; it schedules a flush when it ends.
    if (this.writesHeld && !this.closed) return;
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


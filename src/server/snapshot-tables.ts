import { Packr } from "msgpackr";
import { assert } from "../consensus/types.js";
import type { ReadView, Storage, Table } from "../storage/storage.js";

/**
 * The state machine keeps its state in one of two physical LMDB tables; a
 * pointer in a small meta table names the live one. A received snapshot is
 * staged into the other table chunk by chunk, and installed by flipping the
 * pointer in the same durable commit as the engine's persist of that snapshot:
 * installing costs one write whatever the store size. The first name is the
 * table older data directories already use, so they open unchanged.
 */
const tableNames = ["mvcc", "mvcc-b"] as const;
const metaTableName = "mvcc-meta";
const liveKey = Buffer.from("live");
const stagingKey = Buffer.from("staging");

/** descriptorTag starts every snapshot descriptor; the 8-byte big-endian index follows it. */
const descriptorTag = Buffer.from("synod-snapshot/1:");
const descriptorBytes = descriptorTag.length + 8;

/**
 * encodeSnapshotDescriptor is a snapshot's `data`: not the state, only what
 * names it (a format tag and the applied index it was taken at). The state is
 * pulled from the sender's pinned read view in chunks.
 */
export function encodeSnapshotDescriptor(index: number): Uint8Array {
  assert(Number.isSafeInteger(index) && index >= 0, `snapshot index ${index} is a safe integer`);
  const out = Buffer.alloc(descriptorBytes);
  descriptorTag.copy(out);
  out.writeBigUInt64BE(BigInt(index), descriptorTag.length);
  return out;
}

/** decodeSnapshotDescriptor returns the index a descriptor names, or null when `data` is not one. */
export function decodeSnapshotDescriptor(data: Uint8Array): number | null {
  if (data.length !== descriptorBytes) return null;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!bytes.subarray(0, descriptorTag.length).equals(descriptorTag)) return null;
  const index = Number(bytes.readBigUInt64BE(descriptorTag.length));
  return Number.isSafeInteger(index) ? index : null;
}

/** SnapshotRow is one key and value of the state machine's table. */
export type SnapshotRow = readonly [Uint8Array, Uint8Array];

/** SnapshotRows is one chunk read from a pinned view: rows in key order, and whether they end the table. */
export interface SnapshotRows {
  readonly rows: readonly SnapshotRow[];
  readonly done: boolean;
  readonly bytes: number;
}

/**
 * StagingProgress is how far a received snapshot has been staged, made durable
 * with every chunk: the next pull asks for the keys after `afterKey` (null:
 * from the first key). `rows` and `bytes` count what is staged, for logs.
 */
export interface StagingProgress {
  readonly index: number;
  readonly term: number;
  readonly afterKey: Uint8Array | null;
  readonly rows: number;
  readonly bytes: number;
  readonly complete: boolean;
}

interface Pin {
  readonly view: ReadView;
  readonly table: Table;
  readonly index: number;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * SnapshotTables owns the two physical tables of the state machine: which one
 * is live, the read view pinned for the latest snapshot taken or installed
 * (what followers pull), and the staging of a snapshot being received.
 */
export class SnapshotTables {
  private readonly tables: readonly [Table, Table];
  private readonly meta: Table;
  private liveSlot: 0 | 1;
  private progress: StagingProgress | null;
  private pinned: Pin | null = null;

  constructor(private readonly storage: Storage) {
    this.tables = [storage.table(tableNames[0]), storage.table(tableNames[1])];
    this.meta = storage.table(metaTableName);
    const live = this.meta.get(liveKey);
    this.liveSlot = live === undefined ? 0 : parseSlot(live);
    this.progress = parseProgress(this.meta.get(stagingKey));
  }

  /** live is the table holding the applied state. */
  get live(): Table {
    return this.tables[this.liveSlot];
  }

  /** liveName names the live table, for its size. */
  get liveName(): string {
    return tableNames[this.liveSlot];
  }

  private get staging(): Table {
    return this.tables[this.liveSlot === 0 ? 1 : 0];
  }

  // ----------------------------------------------------------- sender side

  /**
   * pin keeps a read view of the live table as of the last commit, which holds
   * the state at applied `index`, and releases the previous one: only the
   * latest snapshot is served.
   */
  pin(index: number): void {
    // A defragment cannot swap the file under a view: this one gives way, and the replica
    // takes a new snapshot afterwards (a pull meanwhile hears that the snapshot is gone).
    const view = this.storage.readView({ yieldToDefragment: () => this.release() });
    this.pinned?.view.done();
    this.pinned = { view, table: this.live, index };
  }

  /** pinnedIndex is the index of the pinned view, or null. */
  pinnedIndex(): number | null {
    return this.pinned?.index ?? null;
  }

  /** release drops the pinned view (before the storage closes). */
  release(): void {
    this.pinned?.view.done();
    this.pinned = null;
  }

  /**
   * readRows reads, from the view pinned at `index`, the rows after `afterKey`
   * in key order until the next row would take the chunk past `bytesMax`
   * (a chunk holds at least one row, so a row larger than `bytesMax` still
   * travels alone). Null when the view at `index` is no longer held.
   */
  readRows(index: number, afterKey: Uint8Array | null, bytesMax: number): SnapshotRows | null {
    const pin = this.pinned;
    if (pin?.index !== index) return null;
    const start = afterKey === null ? {} : { start: Buffer.from(afterKey), exclusiveStart: true };
    const rows: SnapshotRow[] = [];
    let bytes = 0;
    let done = true;
    for (const { key, value } of pin.table.getRange({ transaction: pin.view.transaction, ...start })) {
      const rowBytes = key.length + value.length;
      if (rows.length > 0 && bytes + rowBytes > bytesMax) {
        done = false;
        break;
      }
      rows.push([key, value]);
      bytes += rowBytes;
    }
    return { rows, done, bytes };
  }

  // ----------------------------------------------------------- receiver side

  /** stagingProgress is the durable progress of the snapshot being staged, or null. */
  stagingProgress(): StagingProgress | null {
    return this.progress;
  }

  /** beginStaging empties the staging table and starts staging snapshot (index, term), in one commit. */
  beginStaging(index: number, term: number): Promise<void> {
    const progress: StagingProgress = { index, term, afterKey: null, rows: 0, bytes: 0, complete: false };
    return this.storage
      .transaction(() => {
        this.staging.clearSync();
        this.meta.putSync(stagingKey, Buffer.from(packr.pack(progress)));
      })
      .then(() => {
        this.progress = progress;
      });
  }

  /**
   * stageRows writes one chunk and the progress past it in ONE commit, so a
   * restart resumes after the last durable chunk. Rows must follow `afterKey`
   * in strictly increasing key order (the caller checked the peer's input).
   */
  stageRows(rows: readonly SnapshotRow[], done: boolean): Promise<void> {
    const before = this.progress;
    assert(before !== null && !before.complete, "rows are staged only into an open staging");
    const last = rows.at(-1);
    let bytes = 0;
    for (const [key, value] of rows) bytes += key.length + value.length;
    const progress: StagingProgress = {
      ...before,
      afterKey: last === undefined ? before.afterKey : Buffer.from(last[0]),
      rows: before.rows + rows.length,
      bytes: before.bytes + bytes,
      complete: done,
    };
    const staging = this.staging;
    return this.storage
      .transaction(() => {
        for (const [key, value] of rows) staging.putSync(asBuffer(key), asBuffer(value));
        this.meta.putSync(stagingKey, Buffer.from(packr.pack(progress)));
      })
      .then(() => {
        this.progress = progress;
      });
  }

  /** clearStaging forgets a staged snapshot (the sender no longer has it) and empties the staging table, in one commit. */
  clearStaging(): Promise<void> {
    return this.storage
      .transaction(() => {
        this.staging.clearSync();
        this.meta.removeSync(stagingKey);
      })
      .then(() => {
        this.progress = null;
      });
  }

  /** isStaged says whether snapshot (index, term) is staged completely. */
  isStaged(index: number, term: number): boolean {
    const p = this.progress;
    return p !== null && p.complete && p.index === index && p.term === term;
  }

  /**
   * install makes the completely staged table live: run it inside the commit
   * that persists the engine's snapshot. The pointer flips and the progress
   * goes in the same commit; the old table is emptied by `dropStaging` later
   * (until then it is only garbage that the next staging clears first).
   */
  install(index: number, term: number): void {
    assert(this.storage.isInTransaction(), "install runs inside the commit that persists the snapshot");
    assert(this.isStaged(index, term), `snapshot ${index} (term ${term}) is staged completely before it is installed`);
    this.liveSlot = this.liveSlot === 0 ? 1 : 0;
    this.meta.putSync(liveKey, Buffer.from([this.liveSlot]));
    this.meta.removeSync(stagingKey);
    this.progress = null;
  }

  /** dropStaging empties the table a snapshot install left behind, unless a new staging began meanwhile. */
  dropStaging(): Promise<void> {
    return this.storage.transaction(() => {
      if (this.progress === null) this.staging.clearSync();
    });
  }
}

function parseSlot(value: Buffer): 0 | 1 {
  const slot = value[0];
  assert(value.length === 1 && (slot === 0 || slot === 1), "the live table pointer is 0 or 1");
  return slot;
}

function parseProgress(value: Buffer | undefined): StagingProgress | null {
  if (value === undefined) return null;
  const p = packr.unpack(value) as Partial<Record<keyof StagingProgress, unknown>>;
  const afterKey = p.afterKey;
  assert(
    typeof p.index === "number" &&
      typeof p.term === "number" &&
      typeof p.rows === "number" &&
      typeof p.bytes === "number" &&
      typeof p.complete === "boolean" &&
      (afterKey === null || afterKey instanceof Uint8Array),
    "staging progress record is well formed",
  );
  return { index: p.index, term: p.term, afterKey: afterKey === null ? null : Buffer.from(afterKey), rows: p.rows, bytes: p.bytes, complete: p.complete };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

import type { Entry, GroupId, LogIndex, Membership, Snapshot } from "../consensus/types.js";
import { assert, logIndex } from "../consensus/types.js";
import type { RecordKind } from "./errors.js";
import { StorageCorruptionError, StorageError } from "./errors.js";
import type { StoredSnapshotMeta } from "./layout.js";
import {
  chunkKey,
  decodeEntry,
  decodeIndex,
  encodeEntry,
  encodeIndex,
  entryIndexOfKey,
  entryKey,
  groupRange,
  kindAppliedIndex,
  kindBootstrap,
  kindEntry,
  kindHardState,
  kindRange,
  kindSnapshotChunk,
  kindSnapshotMeta,
  packValue,
  parseMembership,
  parseSnapshotMeta,
  recordKey,
  seal,
  unpackValue,
  unseal,
} from "./layout.js";
import type { Storage, Table } from "./storage.js";

/** DurableState is what a group restarts from: exactly what was made durable. */
export interface DurableState<H> {
  /** hardState is the last persisted engine hard state, or null if none was ever persisted. */
  readonly hardState: H | null;
  readonly snapshot: Snapshot | null;
  /** entries is the log after the snapshot: contiguous, starting at snapshot index + 1. */
  readonly entries: readonly Entry[];
  /** bootstrap is the initial membership saved when the group was created, or null. */
  readonly bootstrap: Membership | null;
  /** appliedIndex is the last index the state machine durably applied (0 if none). */
  readonly appliedIndex: LogIndex;
}

/** PersistRequest is the part of an engine's Ready that must be durable before its messages are sent. */
export interface PersistRequest<H> {
  readonly hardState: H | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
}

/**
 * LogBounds is the committed shape of a group's stored log: entries occupy the
 * half-open range [lo, hi); the snapshot covers everything up to snapshotIndex.
 * Invariant: lo <= snapshotIndex + 1 <= hi. Entries in [lo, snapshotIndex] are
 * left over until `compact` removes them; `load` never returns them.
 */
interface LogBounds {
  lo: number;
  hi: number;
  snapshotIndex: number;
  snapshotTerm: number;
}

/**
 * GroupStorage is the durable state of one consensus group inside a Storage:
 * its log, hard state, snapshot, applied index and bootstrap membership. All
 * writes go through the storage's group commit. Reads (`load`, `entries`,
 * `appliedIndex`) see what has been committed.
 */
export class GroupStorage<H> {
  private readonly bounds: LogBounds;

  /** Created by Storage.group; use that. */
  constructor(
    private readonly storage: Storage,
    private readonly db: Table,
    readonly groupId: GroupId,
  ) {
    this.bounds = this.readBounds();
  }

  /** load reads everything this group restarts from, verifying every record's checksum. */
  load(): DurableState<H> {
    this.storage.checkUsable();
    const stored = this.readSnapshotMeta();
    const snapshot = stored === null ? null : { meta: stored.meta, data: this.readSnapshotData(stored) };
    const first = (stored === null ? 0 : stored.meta.index) + 1;
    const entries = this.readEntries(first, Number.MAX_SAFE_INTEGER);
    const expected = this.bounds.hi - first;
    if (entries.length !== expected) {
      throw this.corrupt("entry", first + entries.length, `log has a gap: ${expected} entries expected after the snapshot`);
    }
    return {
      hardState: this.readHardState(),
      snapshot,
      entries,
      bootstrap: this.readBootstrap(),
      appliedIndex: this.appliedIndex(),
    };
  }

  /**
   * persist makes one Ready's snapshot, entries and hard state durable, in that
   * order, in one commit (shared with every other write of this event-loop turn).
   *
   * A snapshot replaces the whole stored log (the engine contract in
   * consensus/types.ts: an engine that keeps entries above the snapshot re-sends
   * them in the same Ready's `entries`). Entries replace every stored entry from
   * `entries[0].index` on; they must be contiguous, start after the snapshot,
   * and leave no gap after the stored log.
   */
  persist(request: PersistRequest<H>): Promise<void> {
    const problem = checkContiguous(request.entries);
    if (problem !== null) return Promise.reject(invalidWrite(this.groupId, problem));
    if (request.hardState === null && request.entries.length === 0 && request.snapshot === null) {
      return Promise.resolve();
    }
    const hardState = request.hardState === null ? null : packValue(request.hardState);
    return this.storage.enqueue(() => this.writePersist(request, hardState));
  }

  /**
   * saveSnapshot stores a snapshot the state machine took of its applied state
   * (the engine's `compact`). It must cover no more than the stored log and no
   * less than the current snapshot. The log is not touched: `compact` drops it.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.storage.enqueue(() => {
      const b = this.bounds;
      const index = snapshot.meta.index;
      if (index < b.snapshotIndex) {
        throw invalidWrite(this.groupId, `snapshot at ${index} is older than the stored one at ${b.snapshotIndex}`);
      }
      if (index >= b.hi) {
        throw invalidWrite(this.groupId, `snapshot at ${index} covers more than the stored log, which ends at ${b.hi - 1}`);
      }
      this.writeSnapshot(snapshot);
    });
  }

  /** compact drops the stored entries up to and including `index`; the stored snapshot must cover them. */
  compact(index: LogIndex): Promise<void> {
    return this.storage.enqueue(() => {
      const b = this.bounds;
      if (index > b.snapshotIndex) {
        throw invalidWrite(this.groupId, `cannot compact to ${index}: the stored snapshot only covers ${b.snapshotIndex}`);
      }
      const lo = Math.min(Math.max(b.lo, index + 1), b.hi);
      this.removeEntries(b.lo, lo);
      b.lo = lo;
    });
  }

  /** saveBootstrap stores the membership a brand-new group starts from. */
  saveBootstrap(membership: Membership): Promise<void> {
    const payload = packValue(membership);
    return this.storage.enqueue(() => this.put(recordKey(this.groupId, kindBootstrap), payload));
  }

  /** appliedIndex is the last index the state machine durably applied (0 if none). */
  appliedIndex(): LogIndex {
    const key = recordKey(this.groupId, kindAppliedIndex);
    const payload = this.get(key, "appliedIndex", null);
    if (payload === null) return logIndex(0);
    const index = decodeIndex(payload);
    if (index === null) throw this.corrupt("appliedIndex", null, "payload is not an 8-byte index");
    return index;
  }

  /**
   * writeAppliedIndex records the applied index inside the current write
   * transaction: call it from a `Storage.transaction` function, next to the
   * state machine's own writes, so both commit atomically.
   */
  writeAppliedIndex(index: LogIndex): void {
    assert(this.storage.isInTransaction(), "writeAppliedIndex runs only inside Storage.transaction");
    this.put(recordKey(this.groupId, kindAppliedIndex), encodeIndex(index));
  }

  /** setAppliedIndex records the applied index in the next group commit. */
  setAppliedIndex(index: LogIndex): Promise<void> {
    return this.storage.enqueue(() => this.writeAppliedIndex(index));
  }

  /** entries reads the stored entries in [lo, hi), stopping at the first missing one. */
  entries(lo: LogIndex, hi: LogIndex): Entry[] {
    this.storage.checkUsable();
    return this.readEntries(lo, hi);
  }

  /** destroy removes every record of this group (the replica left the group), in the next commit. */
  destroy(): Promise<void> {
    return this.storage.enqueue(() => {
      const range = groupRange(this.groupId);
      for (const key of this.db.getKeys({ start: range.start, end: range.end })) this.db.removeSync(key);
      Object.assign(this.bounds, { lo: 1, hi: 1, snapshotIndex: 0, snapshotTerm: 0 });
    });
  }

  // ----- writes, run inside the batch transaction -----

  private writePersist(request: PersistRequest<H>, hardState: Buffer | null): void {
    const b = this.bounds;
    // Plan first, write after: a refused write must write nothing.
    let next = { lo: b.lo, hi: b.hi, snapshotIndex: b.snapshotIndex, snapshotTerm: b.snapshotTerm };
    if (request.snapshot !== null) {
      const { index, term: snapshotTerm } = request.snapshot.meta;
      next = { lo: index + 1, hi: index + 1, snapshotIndex: index, snapshotTerm };
    }
    const first = request.entries[0];
    if (first !== undefined) {
      if (first.index <= next.snapshotIndex) {
        throw invalidWrite(this.groupId, `entries start at ${first.index}, inside the snapshot up to ${next.snapshotIndex}`);
      }
      if (first.index > next.hi) {
        throw invalidWrite(this.groupId, `entries start at ${first.index}, leaving a gap after the stored log ending at ${next.hi - 1}`);
      }
    }
    if (request.snapshot !== null) {
      this.writeSnapshot(request.snapshot);
      this.removeEntries(b.lo, b.hi);
    }
    if (first !== undefined) {
      this.removeEntries(first.index, next.hi);
      for (const entry of request.entries) this.put(entryKey(this.groupId, entry.index), encodeEntry(entry));
      next.hi = first.index + request.entries.length;
    }
    if (hardState !== null) this.put(recordKey(this.groupId, kindHardState), hardState);
    Object.assign(b, next);
    assert(b.lo <= b.snapshotIndex + 1 && b.snapshotIndex + 1 <= b.hi, "log bounds invariant");
  }

  /** writeSnapshot replaces the stored snapshot (metadata and chunks) and updates the bounds' snapshot. */
  private writeSnapshot(snapshot: Snapshot): void {
    const range = kindRange(this.groupId, kindSnapshotChunk);
    for (const key of this.db.getKeys({ start: range.start, end: range.end })) this.db.removeSync(key);
    const chunkBytes = this.storage.snapshotChunkBytes;
    const data = snapshot.data;
    const chunkCount = Math.ceil(data.length / chunkBytes);
    for (let chunk = 0; chunk < chunkCount; chunk++) {
      const piece = data.subarray(chunk * chunkBytes, Math.min(data.length, (chunk + 1) * chunkBytes));
      this.put(chunkKey(this.groupId, chunk), piece);
    }
    const stored: StoredSnapshotMeta = { meta: snapshot.meta, dataBytes: data.length, chunkCount };
    this.put(recordKey(this.groupId, kindSnapshotMeta), packValue(stored));
    this.bounds.snapshotIndex = snapshot.meta.index;
    this.bounds.snapshotTerm = snapshot.meta.term;
  }

  /** removeEntries deletes the stored entries in [lo, hi) (those that exist). */
  private removeEntries(lo: number, hi: number): void {
    for (let index = lo; index < hi; index++) this.db.removeSync(entryKey(this.groupId, index));
  }

  private put(key: Buffer, payload: Uint8Array): void {
    this.db.putSync(key, seal(key, payload));
  }

  // ----- reads -----

  private decodeEntryAt(index: number, payload: Uint8Array): Entry {
    let entry: Entry | string;
    try {
      entry = decodeEntry(payload);
    } catch (err) {
      throw this.corrupt("entry", index, "payload does not decode", err);
    }
    if (typeof entry === "string") throw this.corrupt("entry", index, entry);
    if (entry.index !== index) throw this.corrupt("entry", index, `record holds index ${entry.index}`);
    return entry;
  }

  private readEntries(lo: number, hi: number): Entry[] {
    const out: Entry[] = [];
    const range = kindRange(this.groupId, kindEntry);
    const start = entryKey(this.groupId, Math.max(lo, 0));
    const end = hi >= Number.MAX_SAFE_INTEGER ? range.end : entryKey(this.groupId, hi);
    for (const { key, value } of this.db.getRange({ start, end })) {
      const index = entryIndexOfKey(key);
      const payload = unseal(key, value);
      if (payload === null) throw this.corrupt("entry", index, "checksum mismatch");
      if (out.length > 0 && index !== lo + out.length) {
        throw this.corrupt("entry", index, `log has a gap: expected index ${lo + out.length}`);
      }
      if (out.length === 0 && index !== lo) break; // the first wanted entry is not stored
      out.push(this.decodeEntryAt(index, payload));
    }
    return out;
  }

  private readHardState(): H | null {
    const payload = this.get(recordKey(this.groupId, kindHardState), "hardState", null);
    if (payload === null) return null;
    try {
      return unpackValue(payload) as H;
    } catch (err) {
      throw this.corrupt("hardState", null, "payload does not decode", err);
    }
  }

  private readBootstrap(): Membership | null {
    const payload = this.get(recordKey(this.groupId, kindBootstrap), "bootstrap", null);
    if (payload === null) return null;
    const membership = parseMembership(this.unpack(payload, "bootstrap"));
    if (membership === null) throw this.corrupt("bootstrap", null, "not a membership");
    return membership;
  }

  private readSnapshotMeta(): StoredSnapshotMeta | null {
    const payload = this.get(recordKey(this.groupId, kindSnapshotMeta), "snapshotMeta", null);
    if (payload === null) return null;
    const stored = parseSnapshotMeta(this.unpack(payload, "snapshotMeta"));
    if (stored === null) throw this.corrupt("snapshotMeta", null, "not snapshot metadata");
    return stored;
  }

  private readSnapshotData(stored: StoredSnapshotMeta): Uint8Array {
    const data = new Uint8Array(stored.dataBytes);
    let offset = 0;
    for (let chunk = 0; chunk < stored.chunkCount; chunk++) {
      const piece = this.get(chunkKey(this.groupId, chunk), "snapshotChunk", chunk);
      if (piece === null) throw this.corrupt("snapshotChunk", chunk, "chunk is missing");
      if (offset + piece.length > data.length) throw this.corrupt("snapshotChunk", chunk, "chunks exceed the data size");
      data.set(piece, offset);
      offset += piece.length;
    }
    if (offset !== data.length) throw this.corrupt("snapshotMeta", null, `chunks hold ${offset} of ${data.length} bytes`);
    return data;
  }

  /** readBounds derives the log bounds from what is stored (at open). */
  private readBounds(): LogBounds {
    const stored = this.readSnapshotMeta();
    const snapshotIndex = stored === null ? 0 : stored.meta.index;
    const snapshotTerm = stored === null ? 0 : stored.meta.term;
    const range = kindRange(this.groupId, kindEntry);
    let lo = snapshotIndex + 1;
    let hi = snapshotIndex + 1;
    for (const key of this.db.getKeys({ start: range.start, end: range.end, limit: 1 })) lo = entryIndexOfKey(key);
    for (const key of this.db.getKeys({ start: range.end, end: range.start, reverse: true, limit: 1 })) {
      hi = entryIndexOfKey(key) + 1;
    }
    if (hi < snapshotIndex + 1) {
      // Only entries the snapshot covers are left: the log after the snapshot is empty.
      hi = snapshotIndex + 1;
    }
    lo = Math.min(lo, snapshotIndex + 1);
    return { lo, hi, snapshotIndex, snapshotTerm };
  }

  /** get reads and verifies one record; null when absent. */
  private get(key: Buffer, record: RecordKind, index: number | null): Uint8Array | null {
    const value = this.db.get(key);
    if (value === undefined) return null;
    const payload = unseal(key, value);
    if (payload === null) throw this.corrupt(record, index, "checksum mismatch");
    return payload;
  }

  private unpack(payload: Uint8Array, record: RecordKind): unknown {
    try {
      return unpackValue(payload);
    } catch (err) {
      throw this.corrupt(record, null, "payload does not decode", err);
    }
  }

  private corrupt(record: RecordKind, index: number | null, detail: string, cause?: unknown): StorageCorruptionError {
    return new StorageCorruptionError({
      groupId: this.groupId,
      record,
      index: index === null ? null : logIndex(index),
      detail,
      cause,
    });
  }
}

/** checkContiguous returns a problem when entries do not follow each other by index. */
function checkContiguous(entries: readonly Entry[]): string | null {
  const first = entries[0];
  if (first === undefined) return null;
  if (!Number.isSafeInteger(first.index) || first.index < 1) return `entries start at invalid index ${first.index}`;
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]?.index !== first.index + i) return `entries are not contiguous from ${first.index}`;
  }
  return null;
}

function invalidWrite(group: GroupId, problem: string): StorageError {
  return new StorageError("invalidWrite", `group ${group}: ${problem}`);
}

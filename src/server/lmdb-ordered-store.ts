import type { OrderedStore, ScanOptions, StoreEntry } from "../kv/ports.js";
import type { Table } from "../storage/storage.js";

/**
 * LmdbOrderedStore is the MVCC store's ordered key-value port on one LMDB
 * table. Inside the storage's group-commit transaction, reads see the batch's
 * own writes; outside it they read the last committed state.
 */
export class LmdbOrderedStore implements OrderedStore {
  constructor(private readonly table: Table) {}

  get(key: Uint8Array): Uint8Array | undefined {
    return this.table.get(asBuffer(key));
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.table.putSync(asBuffer(key), asBuffer(value));
  }

  delete(key: Uint8Array): void {
    this.table.removeSync(asBuffer(key));
  }

  *scan(start: Uint8Array, end: Uint8Array | undefined, options: ScanOptions): Iterable<StoreEntry> {
    // lmdb's reverse ranges run from `start` down to `end`, both given in walk order.
    const range =
      options.reverse
        ? this.reverseRange(start, end, options.limit)
        : this.table.getRange({ start: asBuffer(start), ...(end === undefined ? {} : { end: asBuffer(end) }), ...(options.limit === undefined ? {} : { limit: options.limit }) });
    for (const { key, value } of range) yield [key, value] as const;
  }

  private reverseRange(start: Uint8Array, end: Uint8Array | undefined, limit: number | undefined): Iterable<{ key: Buffer; value: Buffer }> {
    const limitPart = limit === undefined ? {} : { limit };
    if (end === undefined) {
      // From the very last key down to `start` (inclusive).
      return filterAtLeast(this.table.getRange({ reverse: true, ...limitPart }), start, limit);
    }
    // (end, …] walking down: lmdb's reverse start is exclusive-of-nothing, so begin just below `end`.
    return filterAtLeast(this.table.getRange({ start: asBuffer(end), end: asBuffer(start), reverse: true, exclusiveStart: true, ...limitPart }), start, limit);
  }
}

function* filterAtLeast(
  range: Iterable<{ key: Buffer; value: Buffer }>,
  start: Uint8Array,
  limit: number | undefined,
): Iterable<{ key: Buffer; value: Buffer }> {
  let n = 0;
  for (const entry of range) {
    if (Buffer.compare(entry.key, start) < 0) return;
    yield entry;
    if (limit !== undefined && ++n >= limit) return;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

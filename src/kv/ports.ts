/**
 * ScanOptions tunes one ordered scan of an {@link OrderedStore}.
 * `reverse` walks from the end of the range towards its start; `limit` caps
 * the number of entries yielded (absent: no cap).
 */
export interface ScanOptions {
  readonly reverse: boolean;
  readonly limit?: number;
}

/** StoreEntry is one key and its value as yielded by a scan. */
export type StoreEntry = readonly [key: Uint8Array, value: Uint8Array];

/**
 * OrderedStore is the synchronous, byte-ordered key-value port the MVCC store
 * sits on. Keys compare as unsigned bytes, lexicographically (a prefix sorts
 * before its extensions).
 *
 * Production implements it on LMDB inside one write transaction per applied
 * batch, so the applied index commits atomically with the state changes;
 * snapshots read it in a read transaction. {@link MemoryStore} is the
 * in-memory twin used by tests and the simulator.
 *
 * Contract:
 * - `get`, `put` and `delete` act immediately and are visible to every later
 *   call on the same store (read-your-writes inside the batch).
 * - `put` keeps its own copy of the bytes (or the caller must not reuse them).
 * - Arrays returned by `get` and `scan` must not be mutated by the caller, and
 *   stay valid and unchanged after later calls (an LMDB implementation copies
 *   out of the map rather than handing back a reused buffer).
 * - `scan` yields the entries of the half-open range [start, end) in key order
 *   (descending if `reverse`); `end` undefined means "to the end of the
 *   keyspace". Writing to the store while a scan is being iterated is not
 *   allowed: collect first, then write.
 */
export interface OrderedStore {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
  scan(start: Uint8Array, end: Uint8Array | undefined, options: ScanOptions): Iterable<StoreEntry>;
}

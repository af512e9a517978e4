import { compareBytes } from "./bytes.js";
import type { OrderedStore, ScanOptions, StoreEntry } from "./ports.js";

/** chunkEntriesMax bounds one leaf; a leaf that grows past it splits in two. */
const chunkEntriesMax = 1024;

/**
 * MemoryStore is the in-memory twin of the LMDB-backed {@link OrderedStore}:
 * a two-level sorted structure (an ordered list of sorted chunks, each at most
 * {@link chunkEntriesMax} entries), so a get is two binary searches and an
 * insert moves at most one chunk's worth of references — fine for hundreds of
 * thousands of keys.
 *
 * Invariants: every chunk is non-empty and sorted; the last key of chunk i is
 * less than the first key of chunk i+1. A scan asserts that the store is not
 * written while it is being iterated.
 */
export class MemoryStore implements OrderedStore {
  private chunks: StoreEntry[][] = [];
  private entryCount = 0;
  private writeCount = 0;

  /** size is the number of keys stored. */
  get size(): number {
    return this.entryCount;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return undefined;
    const i = lowerBound(chunk, key);
    const entry = chunk[i];
    return entry !== undefined && compareBytes(entry[0], key) === 0 ? entry[1] : undefined;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.writeCount++;
    const entry: StoreEntry = [key.slice(), value.slice()];
    if (this.chunks.length === 0) {
      this.chunks.push([entry]);
      this.entryCount = 1;
      return;
    }
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) throw new Error("MemoryStore: chunk index out of range");
    const i = lowerBound(chunk, key);
    const existing = chunk[i];
    if (existing !== undefined && compareBytes(existing[0], key) === 0) {
      chunk[i] = entry;
      return;
    }
    chunk.splice(i, 0, entry);
    this.entryCount++;
    if (chunk.length > chunkEntriesMax) {
      const upper = chunk.splice(chunk.length >>> 1);
      this.chunks.splice(ci + 1, 0, upper);
    }
  }

  delete(key: Uint8Array): void {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const i = lowerBound(chunk, key);
    const existing = chunk[i];
    if (existing === undefined || compareBytes(existing[0], key) !== 0) return;
    this.writeCount++;
    chunk.splice(i, 1);
    this.entryCount--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
  }

  *scan(start: Uint8Array, end: Uint8Array | undefined, options: ScanOptions): Generator<StoreEntry> {
    const limit = options.limit ?? Infinity;
    if (limit <= 0 || this.chunks.length === 0) return;
    if (end !== undefined && compareBytes(start, end) >= 0) return;
    const writes = this.writeCount;
    let yielded = 0;
    if (!options.reverse) {
      let ci = this.chunkFor(start);
      let i = lowerBound(this.chunks[ci] ?? [], start);
      for (;;) {
        const chunk = this.chunks[ci];
        if (chunk === undefined) return;
        const entry = chunk[i];
        if (entry === undefined) {
          ci++;
          i = 0;
          continue;
        }
        if (end !== undefined && compareBytes(entry[0], end) >= 0) return;
        yield entry;
        this.assertUnchanged(writes);
        if (++yielded >= limit) return;
        i++;
      }
    }
    // Reverse: start at the last key < end.
    let ci = end === undefined ? this.chunks.length - 1 : this.chunkFor(end);
    let i = end === undefined ? (this.chunks[ci]?.length ?? 0) - 1 : lowerBound(this.chunks[ci] ?? [], end) - 1;
    for (;;) {
      if (i < 0) {
        ci--;
        if (ci < 0) return;
        i = (this.chunks[ci]?.length ?? 0) - 1;
        continue;
      }
      const entry = this.chunks[ci]?.[i];
      if (entry === undefined) return;
      if (compareBytes(entry[0], start) < 0) return;
      yield entry;
      this.assertUnchanged(writes);
      if (++yielded >= limit) return;
      i--;
    }
  }

  /** clone returns an independent copy (entries are immutable, so they are shared). */
  clone(): MemoryStore {
    const copy = new MemoryStore();
    copy.chunks = this.chunks.map((chunk) => chunk.slice());
    copy.entryCount = this.entryCount;
    return copy;
  }

  /** entries yields every entry in key order. */
  *entries(): Generator<StoreEntry> {
    for (const chunk of this.chunks) yield* chunk;
  }

  /** chunkFor returns the index of the chunk that holds, or would hold, `key`. */
  private chunkFor(key: Uint8Array): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    // Last chunk whose first key <= key (0 if key precedes all).
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const first = this.chunks[mid]?.[0];
      if (first !== undefined && compareBytes(first[0], key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private assertUnchanged(writes: number): void {
    if (this.writeCount !== writes) throw new Error("MemoryStore: written while a scan was being iterated");
  }
}

/** lowerBound returns the index of the first entry whose key is >= key. */
function lowerBound(chunk: readonly StoreEntry[], key: Uint8Array): number {
  let lo = 0;
  let hi = chunk.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const entry = chunk[mid];
    if (entry !== undefined && compareBytes(entry[0], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

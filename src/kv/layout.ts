/**
 * The MVCC store's layout inside the {@link OrderedStore}: four keyspaces,
 * each behind a two-byte prefix, and the binary records stored in them. All
 * integers are big-endian so byte order is numeric order.
 *
 * ```
 * r/ main(8) sub(8)                 → record: one revision's KeyValue or tombstone
 * h/ len(4) userKey main(8) sub(8)  → 1 byte: 0 live, 1 tombstone   (per-key history)
 * k/ userKey                        → pointer: main(8) sub(8) flags(1) (latest revision of the key)
 * m/ name                           → float64 meta value
 * l/ id(8)                          → lease record: ttl(8) remainingTtl(8)       (see lease-store.ts)
 * a/ id(8) userKey                  → empty: the key is attached to the lease
 * ```
 *
 * `k/` is ordered by user key, so ranges scan it; `h/` answers "the key's last
 * revision at or before R" with one reverse seek; `r/` is ordered by revision,
 * so compaction and hashing walk it in history order. Everything is rebuilt
 * from these bytes on open: the store keeps no index only in memory.
 */
import type { KeyValue } from "./types.js";
import { concatBytes, readUint64, viewOf, writeUint64 } from "./bytes.js";

/** Revision is an MVCC revision: `main` counts write transactions, `sub` the changes inside one. */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** IndexPointer is a key's latest revision and whether that revision deleted it. */
export interface IndexPointer extends Revision {
  readonly tombstone: boolean;
}

/** StoredRecord is one revision of one key as stored under `r/`. */
export interface StoredRecord {
  readonly tombstone: boolean;
  readonly kv: KeyValue;
}

const SLASH = 0x2f;
const revisionPrefix = new Uint8Array([0x72, SLASH]); // "r/"
const historyPrefix = new Uint8Array([0x68, SLASH]); // "h/"
const indexPrefix = new Uint8Array([0x6b, SLASH]); // "k/"
const metaPrefix = new Uint8Array([0x6d, SLASH]); // "m/"
const leasePrefix = new Uint8Array([0x6c, SLASH]); // "l/"
const attachPrefix = new Uint8Array([0x61, SLASH]); // "a/"

/** indexKeyspaceEnd is the first key after every `k/` key. */
export const indexKeyspaceEnd = new Uint8Array([0x6b, SLASH + 1]);
/** revisionKeyspaceStart is the first possible `r/` key. */
export const revisionKeyspaceStart = revisionPrefix;

/** indexKey is the `k/` key of a user key. */
export function indexKey(userKey: Uint8Array): Uint8Array {
  return concatBytes(indexPrefix, userKey);
}

/** userKeyOfIndexKey strips the `k/` prefix. */
export function userKeyOfIndexKey(key: Uint8Array): Uint8Array {
  return key.subarray(indexPrefix.length);
}

/** revisionKey is the `r/` key of a revision. */
export function revisionKey(main: number, sub: number): Uint8Array {
  const out = new Uint8Array(revisionPrefix.length + 16);
  out.set(revisionPrefix, 0);
  const view = viewOf(out);
  writeUint64(view, revisionPrefix.length, main);
  writeUint64(view, revisionPrefix.length + 8, sub);
  return out;
}

/** revisionOfKey decodes an `r/` key. */
export function revisionOfKey(key: Uint8Array): Revision {
  const view = viewOf(key);
  return { main: readUint64(view, revisionPrefix.length), sub: readUint64(view, revisionPrefix.length + 8) };
}

/** historyKeyPrefix is the common prefix of every `h/` key of one user key. */
export function historyKeyPrefix(userKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(historyPrefix.length + 4 + userKey.length);
  out.set(historyPrefix, 0);
  viewOf(out).setUint32(historyPrefix.length, userKey.length);
  out.set(userKey, historyPrefix.length + 4);
  return out;
}

/** historyKey is the `h/` key of one revision of one user key. */
export function historyKey(userKey: Uint8Array, main: number, sub: number): Uint8Array {
  const prefix = historyKeyPrefix(userKey);
  const out = new Uint8Array(prefix.length + 16);
  out.set(prefix, 0);
  const view = viewOf(out);
  writeUint64(view, prefix.length, main);
  writeUint64(view, prefix.length + 8, sub);
  return out;
}

/** revisionOfHistoryKey decodes the revision at the end of an `h/` key. */
export function revisionOfHistoryKey(key: Uint8Array): Revision {
  const view = viewOf(key);
  return { main: readUint64(view, key.length - 16), sub: readUint64(view, key.length - 8) };
}

/** historyMarkLive and historyMarkTombstone are the two `h/` values. */
export const historyMarkLive = new Uint8Array([0]);
export const historyMarkTombstone = new Uint8Array([1]);

/** metaKey is the `m/` key of a named meta value. */
export function metaKey(name: string): Uint8Array {
  const out = new Uint8Array(metaPrefix.length + name.length);
  out.set(metaPrefix, 0);
  for (let i = 0; i < name.length; i++) out[metaPrefix.length + i] = name.charCodeAt(i) & 0xff;
  return out;
}

/** encodeMeta stores a meta number (any float64, so -1 survives). */
export function encodeMeta(n: number): Uint8Array {
  const out = new Uint8Array(8);
  viewOf(out).setFloat64(0, n);
  return out;
}

/** decodeMeta reads a meta number. */
export function decodeMeta(bytes: Uint8Array): number {
  if (bytes.length !== 8) throw new Error(`corrupt meta value: ${bytes.length} bytes`);
  return viewOf(bytes).getFloat64(0);
}

const pointerBytes = 17;

/** encodePointer encodes a `k/` value. */
export function encodePointer(pointer: IndexPointer): Uint8Array {
  const out = new Uint8Array(pointerBytes);
  const view = viewOf(out);
  writeUint64(view, 0, pointer.main);
  writeUint64(view, 8, pointer.sub);
  out[16] = pointer.tombstone ? 1 : 0;
  return out;
}

/** decodePointer decodes a `k/` value. */
export function decodePointer(bytes: Uint8Array): IndexPointer {
  if (bytes.length !== pointerBytes) throw new Error(`corrupt index pointer: ${bytes.length} bytes`);
  const view = viewOf(bytes);
  return { main: readUint64(view, 0), sub: readUint64(view, 8), tombstone: bytes[16] === 1 };
}

// Record: flags(1) createRevision(8) modRevision(8) version(8) lease(float64) keyLength(4) key value
const recordHeaderBytes = 1 + 8 + 8 + 8 + 8 + 4;
const recordKeyLengthOffset = 33;

/** encodeRecord encodes an `r/` value. */
export function encodeRecord(record: StoredRecord): Uint8Array {
  const { kv } = record;
  const out = new Uint8Array(recordHeaderBytes + kv.key.length + kv.value.length);
  const view = viewOf(out);
  out[0] = record.tombstone ? 1 : 0;
  writeUint64(view, 1, kv.createRevision);
  writeUint64(view, 9, kv.modRevision);
  writeUint64(view, 17, kv.version);
  view.setFloat64(25, kv.lease);
  view.setUint32(recordKeyLengthOffset, kv.key.length);
  out.set(kv.key, recordHeaderBytes);
  out.set(kv.value, recordHeaderBytes + kv.key.length);
  return out;
}

/** decodeRecord decodes an `r/` value; key and value are copies, so callers may keep or change them. */
export function decodeRecord(bytes: Uint8Array): StoredRecord {
  if (bytes.length < recordHeaderBytes) throw new Error(`corrupt record: ${bytes.length} bytes`);
  const view = viewOf(bytes);
  const keyLength = view.getUint32(recordKeyLengthOffset);
  if (recordHeaderBytes + keyLength > bytes.length) throw new Error("corrupt record: key overruns");
  return {
    tombstone: bytes[0] === 1,
    kv: {
      key: bytes.slice(recordHeaderBytes, recordHeaderBytes + keyLength),
      createRevision: readUint64(view, 1),
      modRevision: readUint64(view, 9),
      version: readUint64(view, 17),
      value: bytes.slice(recordHeaderBytes + keyLength),
      lease: view.getFloat64(25),
    },
  };
}

// ---- leases ---------------------------------------------------------------

/** leaseKeyspaceStart and leaseKeyspaceEnd bound every `l/` key: [start, end). */
export const leaseKeyspaceStart = leasePrefix;
export const leaseKeyspaceEnd = new Uint8Array([0x6c, SLASH + 1]);

/** leaseKey is the `l/` key of a lease id (a non-negative safe integer). */
export function leaseKey(id: number): Uint8Array {
  const out = new Uint8Array(leasePrefix.length + 8);
  out.set(leasePrefix, 0);
  writeUint64(viewOf(out), leasePrefix.length, id);
  return out;
}

/** leaseIdOfKey decodes an `l/` key. */
export function leaseIdOfKey(key: Uint8Array): number {
  return readUint64(viewOf(key), leasePrefix.length);
}

/** LeaseRecordValue is what `l/` stores for a lease: its granted TTL and last checkpointed remaining TTL (0: none), in seconds. */
export interface LeaseRecordValue {
  readonly ttl: number;
  readonly remainingTtl: number;
}

/** encodeLeaseRecord encodes an `l/` value. */
export function encodeLeaseRecord(record: LeaseRecordValue): Uint8Array {
  const out = new Uint8Array(16);
  const view = viewOf(out);
  writeUint64(view, 0, record.ttl);
  writeUint64(view, 8, record.remainingTtl);
  return out;
}

/** decodeLeaseRecord decodes an `l/` value. */
export function decodeLeaseRecord(bytes: Uint8Array): LeaseRecordValue {
  if (bytes.length !== 16) throw new Error(`corrupt lease record: ${bytes.length} bytes`);
  const view = viewOf(bytes);
  return { ttl: readUint64(view, 0), remainingTtl: readUint64(view, 8) };
}

/** attachKeyPrefix is the common prefix of the `a/` keys of one lease: [prefix, attachKeyPrefix(id + 1)) holds them all. */
export function attachKeyPrefix(id: number): Uint8Array {
  const out = new Uint8Array(attachPrefix.length + 8);
  out.set(attachPrefix, 0);
  writeUint64(viewOf(out), attachPrefix.length, id);
  return out;
}

/** attachKey is the `a/` key recording that `userKey` is attached to lease `id`. */
export function attachKey(id: number, userKey: Uint8Array): Uint8Array {
  return concatBytes(attachKeyPrefix(id), userKey);
}

/** userKeyOfAttachKey strips the `a/` prefix and the lease id. */
export function userKeyOfAttachKey(key: Uint8Array): Uint8Array {
  return key.subarray(attachPrefix.length + 8);
}

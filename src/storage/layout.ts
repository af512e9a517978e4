import { Packr } from "msgpackr";
import type { ConfChange, Entry, GroupId, LogIndex, Membership, SnapshotMeta } from "../consensus/types.js";
import { assert, logIndex, term } from "../consensus/types.js";
import { crc32c } from "./checksum.js";

/**
 * The on-disk layout of the consensus records, all in one LMDB sub-database.
 *
 * Keys (binary, compared bytewise, so big-endian numbers sort numerically):
 *
 *   group(8) kind(1)              per-group records: hard state, applied index,
 *                                 bootstrap membership, snapshot metadata
 *   group(8) 0x10 index(8)        a log entry
 *   group(8) 0x20 chunk(4)        a chunk of the current snapshot's data
 *
 * Values: crc32c(key ‖ payload) as 4 bytes big-endian, then the payload. The key
 * is inside the checksum so a record copied under another key is caught too.
 *
 * Entry payload: type(1: 1 normal, 2 config) index(8) term(8) body, where the
 * body is the raw data of a normal entry or the msgpack of a config entry's
 * change. Other payloads: the applied index is 8 bytes; hard state, bootstrap
 * membership and snapshot metadata are msgpack maps.
 */

export const kindHardState = 0x01;
export const kindAppliedIndex = 0x02;
export const kindBootstrap = 0x03;
export const kindSnapshotMeta = 0x04;
export const kindEntry = 0x10;
export const kindSnapshotChunk = 0x20;

const groupKeyBytes = 8;
const entryKeyBytes = groupKeyBytes + 1 + 8;
const chunkKeyBytes = groupKeyBytes + 1 + 4;
const checksumBytes = 4;
const entryHeaderBytes = 1 + 8 + 8;
const entryTypeNormal = 1;
const entryTypeConfig = 2;
const twoTo32 = 0x1_0000_0000;

/** The largest index or group id a key can hold: JavaScript's safe integers. */
const uint64Max = Number.MAX_SAFE_INTEGER;

function writeUint64(buf: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0 && value <= uint64Max, `uint64 out of range: ${value}`);
  buf.writeUInt32BE(Math.floor(value / twoTo32), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

function readUint64(buf: Uint8Array, offset: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return view.getUint32(offset) * twoTo32 + view.getUint32(offset + 4);
}

function groupKey(group: GroupId, bytes: number): Buffer {
  const key = Buffer.allocUnsafe(bytes);
  writeUint64(key, 0, group);
  return key;
}

/** recordKey is the key of a per-group record of `kind`. */
export function recordKey(group: GroupId, kind: number): Buffer {
  const key = groupKey(group, groupKeyBytes + 1);
  key[groupKeyBytes] = kind;
  return key;
}

/** entryKey is the key of the log entry at `index` of `group`. */
export function entryKey(group: GroupId, index: number): Buffer {
  const key = groupKey(group, entryKeyBytes);
  key[groupKeyBytes] = kindEntry;
  writeUint64(key, groupKeyBytes + 1, index);
  return key;
}

/** entryIndexOfKey reads the index back out of an entry key. */
export function entryIndexOfKey(key: Uint8Array): LogIndex {
  assert(key.length === entryKeyBytes && key[groupKeyBytes] === kindEntry, "not an entry key");
  return logIndex(readUint64(key, groupKeyBytes + 1));
}

/** chunkKey is the key of chunk `chunk` of `group`'s snapshot data. */
export function chunkKey(group: GroupId, chunk: number): Buffer {
  assert(Number.isInteger(chunk) && chunk >= 0 && chunk < twoTo32, `chunk out of range: ${chunk}`);
  const key = groupKey(group, chunkKeyBytes);
  key[groupKeyBytes] = kindSnapshotChunk;
  key.writeUInt32BE(chunk, groupKeyBytes + 1);
  return key;
}

/** groupRange is the half-open key range [start, end) holding every record of `group`. */
export function groupRange(group: GroupId): { readonly start: Buffer; readonly end: Buffer } {
  return { start: groupKey(group, groupKeyBytes), end: groupKey((group + 1) as GroupId, groupKeyBytes) };
}

/** kindRange is the half-open key range [start, end) of `group`'s records of one multi-key kind. */
export function kindRange(group: GroupId, kind: number): { readonly start: Buffer; readonly end: Buffer } {
  return { start: recordKey(group, kind), end: recordKey(group, kind + 1) };
}

/** seal prefixes `payload` with the checksum of key ‖ payload, giving the stored value. */
export function seal(key: Uint8Array, payload: Uint8Array): Buffer {
  const value = Buffer.allocUnsafe(checksumBytes + payload.length);
  value.set(payload, checksumBytes);
  value.writeUInt32BE(crc32c(payload, crc32c(key)), 0);
  return value;
}

/** unseal returns the payload of a stored value, or null when its checksum does not match. */
export function unseal(key: Uint8Array, value: Uint8Array): Uint8Array | null {
  if (value.length < checksumBytes) return null;
  const payload = value.subarray(checksumBytes);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return view.getUint32(0) === crc32c(payload, crc32c(key)) ? payload : null;
}

/**
 * Plain msgpack maps (no record extension) for everything stored as msgpack:
 * the format stays readable by any msgpack decoder and by future versions.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** packValue encodes a value stored as msgpack. */
export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

/** unpackValue decodes a value stored as msgpack; it throws on malformed bytes. */
export function unpackValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** encodeEntry is the payload of a stored entry. */
export function encodeEntry(entry: Entry): Buffer {
  const body = entry.type === "normal" ? entry.data : packValue(entry.change);
  const payload = Buffer.allocUnsafe(entryHeaderBytes + body.length);
  payload[0] = entry.type === "normal" ? entryTypeNormal : entryTypeConfig;
  writeUint64(payload, 1, entry.index);
  writeUint64(payload, 9, entry.term);
  payload.set(body, entryHeaderBytes);
  return payload;
}

/**
 * decodeEntry reads a stored entry's payload; it returns a description of the
 * problem instead when the payload is not a well-formed entry. A normal entry's
 * data is a fresh Uint8Array that shares nothing with LMDB's buffers.
 */
export function decodeEntry(payload: Uint8Array): Entry | string {
  if (payload.length < entryHeaderBytes) return `payload of ${payload.length} bytes is shorter than an entry header`;
  const index = logIndex(readUint64(payload, 1));
  const entryTerm = term(readUint64(payload, 9));
  const body = payload.subarray(entryHeaderBytes);
  const type = payload[0];
  if (type === entryTypeNormal) return { index, term: entryTerm, type: "normal", data: new Uint8Array(body) };
  if (type !== entryTypeConfig) return `unknown entry type ${type}`;
  const change = parseConfChange(unpackValue(body));
  if (change === null) return "config entry holds no valid membership change";
  return { index, term: entryTerm, type: "config", change };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isNodeList(value: unknown): value is readonly number[] {
  return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v));
}

/** parseConfChange checks the shape of a decoded membership change. */
function parseConfChange(value: unknown): ConfChange | null {
  if (!isObject(value) || !Array.isArray(value["ops"])) return null;
  for (const op of value["ops"] as unknown[]) {
    if (!isObject(op) || !Number.isSafeInteger(op["node"])) return null;
    if (op["type"] !== "addVoter" && op["type"] !== "addLearner" && op["type"] !== "removeNode") return null;
  }
  return value as unknown as ConfChange;
}

/** parseMembership checks the shape of a decoded membership. */
export function parseMembership(value: unknown): Membership | null {
  if (!isObject(value)) return null;
  const { voters, votersOutgoing, learners } = value;
  if (!isNodeList(voters) || !isNodeList(votersOutgoing) || !isNodeList(learners)) return null;
  return value as unknown as Membership;
}

/** StoredSnapshotMeta is the stored description of a group's snapshot: what it covers and how its data is chunked. */
export interface StoredSnapshotMeta {
  readonly meta: SnapshotMeta;
  readonly dataBytes: number;
  readonly chunkCount: number;
}

/** parseSnapshotMeta checks the shape of decoded snapshot metadata. */
export function parseSnapshotMeta(value: unknown): StoredSnapshotMeta | null {
  if (!isObject(value) || !isObject(value["meta"])) return null;
  const meta = value["meta"];
  if (!Number.isSafeInteger(meta["index"]) || !Number.isSafeInteger(meta["term"])) return null;
  if (parseMembership(meta["membership"]) === null) return null;
  if (!Number.isSafeInteger(value["dataBytes"]) || !Number.isSafeInteger(value["chunkCount"])) return null;
  return value as unknown as StoredSnapshotMeta;
}

/** encodeIndex is the payload of a stored index (the applied index). */
export function encodeIndex(index: LogIndex): Buffer {
  const payload = Buffer.allocUnsafe(8);
  writeUint64(payload, 0, index);
  return payload;
}

/** decodeIndex reads a stored index, or null when the payload is not 8 bytes. */
export function decodeIndex(payload: Uint8Array): LogIndex | null {
  return payload.length === 8 ? logIndex(readUint64(payload, 0)) : null;
}

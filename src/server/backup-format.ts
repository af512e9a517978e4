/**
 * Synod's backup file format: one consistent copy of a member's state
 * machine table (MVCC data, leases, and the state machine's own records),
 * as Maintenance.Snapshot streams it and `synod snapshot save` (or
 * `etcdctl snapshot save`, which copies the stream verbatim) writes it.
 *
 * ```
 * magic        8 bytes   "SYNODBAK"
 * version      u32 BE    backupFormatVersion
 * headerBytes  u32 BE    length of the header that follows (at most headerBytesMax)
 * header       JSON      BackupHeader, UTF-8
 * rows         rowCount × ( keyBytes u32 BE, valueBytes u32 BE, key, value ), keys strictly ascending
 * padding      zero bytes up to the next multiple of 512 (see backupAlignBytes)
 * sha256       32 bytes  SHA-256 of every byte before it
 * ```
 *
 * All integers are big-endian. The trailing digest plays the part of the
 * sha256 etcd appends to its snapshot stream: a reader verifies it before it
 * trusts a single row. Everything here is pure: no file or socket.
 */
import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";

/** backupMagic opens every backup file. */
export const backupMagic = Buffer.from("SYNODBAK", "latin1");
/** backupFormatVersion is the version this code writes and the only one it reads. */
export const backupFormatVersion = 1;
/** backupPrefixBytes is magic + version + header length. */
export const backupPrefixBytes = backupMagic.length + 4 + 4;
/** headerBytesMax bounds the JSON header, so a corrupt length cannot make a reader allocate much. */
export const headerBytesMax = 64 * 1024;
/** rowHeaderBytes is the two lengths in front of every row. */
export const rowHeaderBytes = 8;
/** rowKeyBytesMax bounds a row's key (LMDB's own key limit is far below it). */
export const rowKeyBytesMax = 64 * 1024;
/** rowValueBytesMax bounds a row's value (a request is at most a few MiB, so a record is too). */
export const rowValueBytesMax = 64 * 1024 * 1024;
/** digestBytes is the length of the trailing SHA-256. */
export const digestBytes = 32;
/**
 * backupAlignBytes: the bytes before the digest fill whole 512-byte blocks,
 * because etcdctl's `snapshot save` accepts a stream only if its length is
 * 32 more than a multiple of 512 (etcd's database is page-aligned, then the
 * digest follows); with this, etcdctl saves Synod's backups as they are.
 */
export const backupAlignBytes = 512;

/** paddingBytesFor is the zero padding after a body of `bodyBytes`. */
export function paddingBytesFor(bodyBytes: number): number {
  return (backupAlignBytes - (bodyBytes % backupAlignBytes)) % backupAlignBytes;
}

/** BackupHeader describes what the rows hold, as of the one read transaction they were taken in. */
export interface BackupHeader {
  /** revision is the MVCC store revision of the copy. */
  readonly revision: number;
  /** compactRevision is the store's last compaction revision (-1 if none). */
  readonly compactRevision: number;
  /** appliedIndex is the consensus log index the copy reflects, on the member that took it. */
  readonly appliedIndex: number;
  /** engine is the consensus engine of the cluster the copy came from. */
  readonly engine: "raft" | "paxos";
  /** rowCount is the number of rows that follow. */
  readonly rowCount: number;
  /** rowBytes is the length of the rows section, framing included. */
  readonly rowBytes: number;
  /** takenAtMs is the member's wall clock when the copy was taken (Unix milliseconds). */
  readonly takenAtMs: number;
}

/** BackupFormatError is a backup that is not one this code wrote: wrong magic, version, structure or checksum. */
export class BackupFormatError extends Error {
  readonly code = "badBackup";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackupFormatError";
  }
}

/** backupTotalBytes is the exact length of the file a header describes. */
export function backupTotalBytes(header: BackupHeader): number {
  const body = backupPrefixBytes + encodeHeaderJson(header).length + header.rowBytes;
  return body + paddingBytesFor(body) + digestBytes;
}

function encodeHeaderJson(header: BackupHeader): Buffer {
  const { revision, compactRevision, appliedIndex, engine, rowCount, rowBytes, takenAtMs } = header;
  return Buffer.from(JSON.stringify({ revision, compactRevision, appliedIndex, engine, rowCount, rowBytes, takenAtMs }), "utf8");
}

/** encodeBackupPrefix is the bytes before the first row: magic, version, header. */
export function encodeBackupPrefix(header: BackupHeader): Buffer {
  const json = encodeHeaderJson(header);
  if (json.length > headerBytesMax) throw new RangeError(`backup header of ${json.length} bytes exceeds ${headerBytesMax}`);
  const fixed = Buffer.alloc(backupPrefixBytes);
  backupMagic.copy(fixed, 0);
  fixed.writeUInt32BE(backupFormatVersion, backupMagic.length);
  fixed.writeUInt32BE(json.length, backupMagic.length + 4);
  return Buffer.concat([fixed, json]);
}

/** rowFrameBytes is how many bytes one row takes in the file. */
export function rowFrameBytes(key: Uint8Array, value: Uint8Array): number {
  return rowHeaderBytes + key.length + value.length;
}

/** encodeRow frames one row. */
export function encodeRow(key: Uint8Array, value: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(rowFrameBytes(key, value));
  out.writeUInt32BE(key.length, 0);
  out.writeUInt32BE(value.length, 4);
  out.set(key, rowHeaderBytes);
  out.set(value, rowHeaderBytes + key.length);
  return out;
}

/**
 * parseBackupPrefix reads magic, version and header from the first bytes of a
 * file. It returns the header and the prefix length, or "short" when `bytes`
 * holds too little to decide (the caller reads more and asks again).
 */
export function parseBackupPrefix(bytes: Uint8Array): { header: BackupHeader; prefixBytes: number } | "short" {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < backupMagic.length) return "short";
  if (!buf.subarray(0, backupMagic.length).equals(backupMagic)) throw new BackupFormatError("not a Synod backup (bad magic)");
  if (buf.length < backupPrefixBytes) return "short";
  const version = buf.readUInt32BE(backupMagic.length);
  if (version !== backupFormatVersion) throw new BackupFormatError(`backup format version ${version} is not supported (this Synod reads ${backupFormatVersion})`);
  const jsonBytes = buf.readUInt32BE(backupMagic.length + 4);
  if (jsonBytes === 0 || jsonBytes > headerBytesMax) throw new BackupFormatError(`backup header length ${jsonBytes} is out of range`);
  if (buf.length < backupPrefixBytes + jsonBytes) return "short";
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.subarray(backupPrefixBytes, backupPrefixBytes + jsonBytes).toString("utf8"));
  } catch (error) {
    throw new BackupFormatError("backup header is not valid JSON", { cause: error });
  }
  return { header: checkHeader(parsed), prefixBytes: backupPrefixBytes + jsonBytes };
}

function checkHeader(value: unknown): BackupHeader {
  if (typeof value !== "object" || value === null) throw new BackupFormatError("backup header is not an object");
  const h = value as Record<string, unknown>;
  const count = (name: string, min: number): number => {
    const n = h[name];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) throw new BackupFormatError(`backup header field ${name} is missing or out of range`);
    return n;
  };
  const engine = h["engine"];
  if (engine !== "raft" && engine !== "paxos") throw new BackupFormatError("backup header field engine must be raft or paxos");
  return {
    revision: count("revision", 1),
    compactRevision: count("compactRevision", -1),
    appliedIndex: count("appliedIndex", 0),
    engine,
    rowCount: count("rowCount", 0),
    rowBytes: count("rowBytes", 0),
    takenAtMs: count("takenAtMs", 0),
  };
}

/** BackupRow is one state machine table row. */
export interface BackupRow {
  readonly key: Buffer;
  readonly value: Buffer;
}

/**
 * RowParser cuts the rows section into rows as bytes arrive, checking every
 * length against its bound and that keys strictly ascend. It holds at most one
 * row's bytes beyond what it was fed.
 */
export class RowParser {
  private pending: Buffer = Buffer.alloc(0);
  private previousKey: Buffer | undefined;
  private rowsSeen = 0;
  private bytesSeen = 0;

  constructor(private readonly header: BackupHeader) {}

  /** feed takes the next bytes of the rows section and returns the rows they complete. */
  feed(bytes: Uint8Array): BackupRow[] {
    this.bytesSeen += bytes.length;
    if (this.bytesSeen > this.header.rowBytes) throw new BackupFormatError(`backup rows run past the ${this.header.rowBytes} bytes the header announces`);
    this.pending = this.pending.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.pending, bytes]);
    const rows: BackupRow[] = [];
    let offset = 0;
    while (this.pending.length - offset >= rowHeaderBytes) {
      const keyBytes = this.pending.readUInt32BE(offset);
      const valueBytes = this.pending.readUInt32BE(offset + 4);
      if (keyBytes === 0 || keyBytes > rowKeyBytesMax) throw new BackupFormatError(`backup row ${this.rowsSeen} has a key length of ${keyBytes}`);
      if (valueBytes > rowValueBytesMax) throw new BackupFormatError(`backup row ${this.rowsSeen} has a value length of ${valueBytes}`);
      const end = offset + rowHeaderBytes + keyBytes + valueBytes;
      if (end > this.pending.length) break;
      const key = Buffer.from(this.pending.subarray(offset + rowHeaderBytes, offset + rowHeaderBytes + keyBytes));
      const value = Buffer.from(this.pending.subarray(offset + rowHeaderBytes + keyBytes, end));
      if (this.previousKey !== undefined && Buffer.compare(this.previousKey, key) >= 0) {
        throw new BackupFormatError(`backup row ${this.rowsSeen} is out of key order`);
      }
      this.previousKey = key;
      this.rowsSeen++;
      if (this.rowsSeen > this.header.rowCount) throw new BackupFormatError(`backup holds more than the ${this.header.rowCount} rows its header announces`);
      rows.push({ key, value });
      offset = end;
    }
    this.pending = this.pending.subarray(offset);
    return rows;
  }

  /** finish checks that the rows section ended exactly where the header said. */
  finish(): void {
    if (this.pending.length > 0 || this.bytesSeen !== this.header.rowBytes || this.rowsSeen !== this.header.rowCount) {
      throw new BackupFormatError(`backup is truncated or malformed: ${this.rowsSeen} of ${this.header.rowCount} rows, ${this.bytesSeen} of ${this.header.rowBytes} row bytes`);
    }
  }
}

/** newDigest starts the running SHA-256 a writer appends and a reader checks. */
export function newDigest(): Hash {
  return createHash("sha256");
}

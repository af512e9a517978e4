import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { BackupHeader, BackupRow } from "./backup-format.js";
import { BackupFormatError, digestBytes, headerBytesMax, backupPrefixBytes, newDigest, paddingBytesFor, parseBackupPrefix, RowParser } from "./backup-format.js";

/** fileReadBytes is how much of a backup file is read at a time. */
const fileReadBytes = 1024 * 1024;

/** BackupFileInfo is what a verified backup file holds. */
export interface BackupFileInfo {
  readonly header: BackupHeader;
  readonly sizeBytes: number;
  /** digest is the file's trailing SHA-256, which matched its contents. */
  readonly digest: Buffer;
}

/**
 * scanBackupFile reads a backup file in bounded pieces, twice: first it checks
 * the trailing SHA-256 against every byte before it, then the structure
 * (magic, version, header, every row's framing and key order, the counts and
 * the length), yielding the rows as they are parsed. No row is yielded from a
 * file whose checksum is wrong; a structural problem found after some rows
 * were yielded still throws, so a caller that must not act on a bad file
 * runs {@link verifyBackupFile} first. Every problem is a BackupFormatError
 * that names it. The generator returns what the file holds.
 */
export function* backupFileRows(path: string): Generator<readonly BackupRow[], BackupFileInfo> {
  const fd = openSync(path, "r");
  try {
    const sizeBytes = fstatSync(fd).size;
    if (sizeBytes < backupPrefixBytes + digestBytes) throw new BackupFormatError(`${path} is too short (${sizeBytes} bytes) to be a Synod backup`);
    const bodyBytes = sizeBytes - digestBytes;
    const digest = newDigest();
    for (let offset = 0; offset < bodyBytes; ) {
      const piece = readExactly(fd, offset, Math.min(fileReadBytes, bodyBytes - offset));
      digest.update(piece);
      offset += piece.length;
    }
    const stored = readExactly(fd, bodyBytes, digestBytes);
    if (!digest.digest().equals(stored)) throw new BackupFormatError(`${path} fails its SHA-256 check: the file is corrupt or truncated`);

    const head = readExactly(fd, 0, Math.min(bodyBytes, backupPrefixBytes + headerBytesMax));
    const prefix = parseBackupPrefix(head);
    if (prefix === "short") throw new BackupFormatError(`${path} is truncated inside its header`);
    const { header, prefixBytes } = prefix;
    const rowsEnd = prefixBytes + header.rowBytes;
    if (rowsEnd + paddingBytesFor(rowsEnd) !== bodyBytes) {
      throw new BackupFormatError(`${path} is ${sizeBytes} bytes but its header describes ${rowsEnd + paddingBytesFor(rowsEnd) + digestBytes}`);
    }
    if (readExactly(fd, rowsEnd, bodyBytes - rowsEnd).some((b) => b !== 0)) throw new BackupFormatError(`${path} has non-zero bytes in its padding`);
    const parser = new RowParser(header);
    for (let offset = prefixBytes; offset < rowsEnd; ) {
      const piece = readExactly(fd, offset, Math.min(fileReadBytes, rowsEnd - offset));
      offset += piece.length;
      const rows = parser.feed(piece);
      if (rows.length > 0) yield rows;
    }
    parser.finish();
    return { header, sizeBytes, digest: stored };
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw new BackupFormatError("backup file ended early (it changed while being read)");
    done += n;
  }
  return out;
}

/** verifyBackupFile checks a whole backup file (checksum, then structure) and returns what it holds. */
export function verifyBackupFile(path: string): BackupFileInfo {
  const rows = backupFileRows(path);
  for (;;) {
    const next = rows.next();
    if (next.done === true) return next.value;
  }
}

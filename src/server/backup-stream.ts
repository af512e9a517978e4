import type { Hash } from "node:crypto";
import { decodeMeta, metaKey } from "../kv/layout.js";
import type { ReadView, Table } from "../storage/storage.js";
import type { BackupHeader } from "./backup-format.js";
import { backupTotalBytes, digestBytes, encodeBackupPrefix, encodeRow, newDigest, rowFrameBytes } from "./backup-format.js";
import type { EngineKind } from "./engines.js";

/** backupChunkBytesDefault is the size of each piece handed to the client stream (etcd sends 32 KiB pieces). */
export const backupChunkBytesDefault = 128 * 1024;
/** countRowsPerStep bounds the rows counted before the counting pass yields to the event loop. */
const countRowsPerStep = 20_000;

/** BackupStreamOptions says what to copy and how. */
export interface BackupStreamOptions {
  /** table is the state machine table copied row by row. */
  readonly table: Table;
  /** view pins the committed state the copy is taken from; the stream releases it on `close`. */
  readonly view: ReadView;
  readonly engine: EngineKind;
  readonly nowMs: number;
  /** chunkBytes is the size a chunk reaches before it is handed out (a chunk may exceed it by one row). */
  readonly chunkBytes?: number;
  /** onClose runs once, when the stream is closed (finished, abandoned, or failed to open). */
  readonly onClose?: () => void;
}

/**
 * BackupStream produces one backup file (see backup-format.ts) from ONE
 * LMDB read transaction, in chunks: each `nextChunk` reads on from the last
 * key copied, so memory stays at one chunk whatever the table's size, and
 * writers are never blocked (the read transaction pins pages, not locks).
 * A first pass over the same transaction counts rows and bytes, so the
 * header states them and the stream knows its exact length up front.
 */
export class BackupStream {
  readonly totalBytes: number;
  private readonly table: Table;
  private readonly view: ReadView;
  private readonly chunkBytes: number;
  private readonly onClose: (() => void) | undefined;
  private readonly digest: Hash = newDigest();
  private prefix: Buffer | undefined;
  private lastKey: Buffer | undefined;
  private rowsDone = false;
  private finished = false;
  private closed = false;
  private sentBytes = 0;

  private constructor(
    options: BackupStreamOptions,
    readonly header: BackupHeader,
  ) {
    this.table = options.table;
    this.view = options.view;
    this.chunkBytes = options.chunkBytes ?? backupChunkBytesDefault;
    this.onClose = options.onClose;
    this.prefix = encodeBackupPrefix(header);
    this.totalBytes = backupTotalBytes(header);
  }

  /** open counts the rows under the view (yielding between steps) and builds the header; the view is released if it fails. */
  static async open(options: BackupStreamOptions): Promise<BackupStream> {
    try {
      const { table, view } = options;
      const meta = (name: string, absent: number): number => {
        const bytes = table.get(Buffer.from(metaKey(name)), { transaction: view.transaction });
        return bytes === undefined ? absent : decodeMeta(bytes);
      };
      let rowCount = 0;
      let rowBytes = 0;
      let after: Buffer | undefined;
      for (;;) {
        let counted = 0;
        for (const { key, value } of table.getRange({ transaction: view.transaction, ...(after === undefined ? {} : { start: after, exclusiveStart: true }), limit: countRowsPerStep })) {
          rowCount++;
          rowBytes += rowFrameBytes(key, value);
          after = key;
          counted++;
        }
        if (counted < countRowsPerStep) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const header: BackupHeader = {
        revision: meta("revision", 1),
        compactRevision: meta("compactRevision", -1),
        appliedIndex: meta("consistentIndex", 0),
        engine: options.engine,
        rowCount,
        rowBytes,
        takenAtMs: options.nowMs,
      };
      return new BackupStream(options, header);
    } catch (error) {
      options.view.done();
      options.onClose?.();
      throw error;
    }
  }

  /** remainingBytes is what is left to hand out after the chunks already taken. */
  get remainingBytes(): number {
    return this.totalBytes - this.sentBytes;
  }

  /**
   * nextChunk returns the next piece of the file, or null once the digest has
   * been handed out. It throws if the rows no longer add up to what the count
   * found, which would mean the view did not hold still.
   */
  nextChunk(): Buffer | null {
    if (this.finished) return null;
    if (this.closed) throw new Error("backup stream is closed");
    const parts: Buffer[] = [];
    let bytes = 0;
    if (this.prefix !== undefined) {
      parts.push(this.prefix);
      bytes += this.prefix.length;
      this.prefix = undefined;
    }
    if (!this.rowsDone) {
      const range = this.lastKey === undefined ? {} : { start: this.lastKey, exclusiveStart: true };
      this.rowsDone = true;
      for (const { key, value } of this.table.getRange({ transaction: this.view.transaction, ...range })) {
        const row = encodeRow(key, value);
        parts.push(row);
        bytes += row.length;
        this.lastKey = Buffer.from(key);
        if (bytes >= this.chunkBytes) {
          this.rowsDone = false;
          break;
        }
      }
    }
    if (this.rowsDone) {
      // The padding is what remains before the digest: the count fixed the total.
      const padding = this.totalBytes - digestBytes - this.sentBytes - bytes;
      if (padding > 0) {
        parts.push(Buffer.alloc(padding));
        bytes += padding;
      }
    }
    const body = Buffer.concat(parts, bytes);
    this.digest.update(body);
    let chunk = body;
    if (this.rowsDone) {
      chunk = Buffer.concat([body, this.digest.digest()]);
      this.finished = true;
      this.close();
    }
    this.sentBytes += chunk.length;
    if (this.sentBytes > this.totalBytes || (this.finished && this.sentBytes !== this.totalBytes)) {
      this.close();
      throw new Error(`backup produced ${this.sentBytes} bytes where ${this.totalBytes} were counted`);
    }
    return chunk;
  }

  /** close releases the read transaction; taking more chunks then fails. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.view.done();
    this.onClose?.();
  }
}

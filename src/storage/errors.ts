import type { GroupId, LogIndex } from "../consensus/types.js";

/** StorageErrorCode names every way the storage layer fails; it is stable and maps to a status upstream. */
export type StorageErrorCode =
  /** A record's checksum or shape does not match: the data on disk is damaged. */
  | "corruption"
  /** Another process (or this one) already holds the data directory. */
  | "locked"
  /** A commit failed; the in-memory view may no longer match the disk, so every later call fails too. */
  | "failed"
  /** The storage was closed. */
  | "closed"
  /** A write asks for something the log cannot hold (a gap, a rewrite of what a snapshot covers). */
  | "invalidWrite"
  /** Too many writes are waiting for a commit. */
  | "overloaded"
  /** Another maintenance task (a defragment, a backup's read view) holds what this one needs; try again later. */
  | "busy"
  /** A maintenance task (a defragment) failed before its commit point; nothing changed. */
  | "maintenanceFailed";

/** StorageError is the one error class of the storage layer; `code` says which failure it is. */
export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
    this.code = code;
  }
}

/** RecordKind names what a damaged record held. */
export type RecordKind = "entry" | "hardState" | "appliedIndex" | "bootstrap" | "snapshotMeta" | "snapshotChunk";

/**
 * StorageCorruptionError says a stored record failed its checksum or could not be
 * decoded. The record is never used: the caller must stop and repair the
 * replica (e.g. wipe it and let the group send it a snapshot).
 */
export class StorageCorruptionError extends StorageError {
  override readonly code = "corruption" as const;
  readonly groupId: GroupId;
  /** index is the log index (entry), chunk number (snapshot chunk), or null for per-group records. */
  readonly index: LogIndex | null;
  readonly record: RecordKind;

  constructor(args: { groupId: GroupId; record: RecordKind; index: LogIndex | null; detail: string; cause?: unknown }) {
    const where = args.index === null ? "" : ` at index ${args.index}`;
    super("corruption", `storage corruption in group ${args.groupId}: ${args.record}${where}: ${args.detail}`, {
      cause: args.cause,
    });
    this.name = "StorageCorruptionError";
    this.groupId = args.groupId;
    this.index = args.index;
    this.record = args.record;
  }
}

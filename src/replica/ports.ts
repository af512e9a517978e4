import type { Entry, Envelope, LogIndex, Snapshot } from "../consensus/types.js";

/**
 * The ports between a replica and the world (hashicorp/raft's split): a durable
 * log, a way to reach peers, and the state machine. Production plugs in LMDB,
 * TCP and the MVCC store; tests plug in their twins.
 */

/** LogPort makes one Ready's consensus state durable. */
export interface LogPort<H> {
  /** persist resolves only once hard state, entries and snapshot are durable. */
  persist(request: { hardState: H | null; entries: readonly Entry[]; snapshot: Snapshot | null }): Promise<void>;
  /** saveSnapshot stores a snapshot the state machine took; compact then drops the log it covers. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  compact(index: LogIndex): Promise<void>;
}

/** PeerPort sends messages to other members; delivery is best effort (consensus tolerates loss). */
export interface PeerPort<M extends Envelope> {
  send(message: M): void;
}

/**
 * StateMachinePort is the replicated state machine.
 *
 * `apply` and `restore` must be enqueued synchronously into the same durable
 * commit as the `persist` of the same Ready (group commit), so that a snapshot
 * and the state it installs, or applied entries and the applied index, are
 * never durable one without the other.
 */
export interface StateMachinePort {
  /** appliedIndex is the last log index reflected in the durable state. */
  appliedIndex(): LogIndex;
  /** apply applies committed entries in order; entries at or below appliedIndex are skipped. */
  apply(entries: readonly Entry[]): Promise<void>;
  /** restore replaces the whole state with a snapshot's data. */
  restore(snapshot: Snapshot): Promise<void>;
  /**
   * snapshotData describes the applied state for a snapshot at appliedIndex.
   * It may return the state itself, or a small descriptor while it keeps
   * that state readable until its next snapshot is taken or installed.
   */
  snapshotData(): Uint8Array;
}

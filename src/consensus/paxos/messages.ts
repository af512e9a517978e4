import type { Entry, Envelope, LogIndex, Snapshot, Term } from "../types.js";

/**
 * PaxosHardState is what a Multi-Paxos acceptor must persist before it
 * acknowledges anything: the highest ballot it has promised (it will take part
 * in no lower ballot, for any slot) and the highest slot it knows chosen with
 * every slot below it also chosen. Accepted values live in the log entries
 * (one per slot, `Entry.term` = the ballot under which it was accepted).
 */
export interface PaxosHardState {
  readonly promised: Term;
  readonly commit: LogIndex;
}

/**
 * PaxosMessage is every message Multi-Paxos peers exchange. Each carries a
 * `ballot`: the proposer's ballot on proposer-to-acceptor traffic, the ballot
 * being answered on replies.
 */
export type PaxosMessage =
  | Prepare
  | PromiseReply
  | Nack
  | Accept
  | Accepted
  | Heartbeat
  | HeartbeatResponse
  | SnapshotMessage
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

interface PaxosEnvelope extends Envelope {
  readonly ballot: Term;
}

/** Prepare is phase 1a: "promise me `ballot` for every slot from `fromSlot` on". */
export interface Prepare extends PaxosEnvelope {
  readonly type: "prepare";
  readonly fromSlot: LogIndex;
}

/**
 * PromiseReply is phase 1b: the acceptor promised `ballot` and reports the
 * values it has accepted in slots [fromSlot, fromSlot + entries.length), each
 * with the ballot it was accepted under, plus its commit index: entries at or
 * below `commit` are known chosen. `complete` is false when the report is cut
 * short (the message limits) or impossible (the slots were compacted into a
 * snapshot); an incomplete promise does not count towards a quorum.
 */
export interface PromiseReply extends PaxosEnvelope {
  readonly type: "promise";
  readonly fromSlot: LogIndex;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
  readonly complete: boolean;
}

/** Nack refuses `ballot` (a prepare, accept, heartbeat or snapshot) because the acceptor promised `promised`. */
export interface Nack extends PaxosEnvelope {
  readonly type: "nack";
  readonly promised: Term;
}

/**
 * Accept is phase 2a for a contiguous batch of slots. Entries at or below
 * `commit` are already chosen (catch-up of a lagging acceptor, carried with the
 * ballot they were accepted under); every later entry is proposed under `ballot`
 * and carries it as its term. `commit` also tells the acceptor what is chosen.
 */
export interface Accept extends PaxosEnvelope {
  readonly type: "accept";
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

/**
 * Accepted is phase 2b. `prefix` is the acceptor's consistent prefix for this
 * ballot: its log on [1, prefix] holds the leader's values (accepted under the
 * ballot, or known chosen). On `reject` the batch did not start at or below
 * prefix + 1 and the leader resumes from there — unless that batch is no longer
 * in flight (it already resumed: acting again would multiply the traffic); `needSnapshot` says the acceptor
 * has no base membership yet (a brand-new member) and needs a snapshot first.
 */
export interface Accepted extends PaxosEnvelope {
  readonly type: "accepted";
  readonly reject: boolean;
  /** batchFirst is the first slot of the batch answered (0 for a snapshot or an empty batch). */
  readonly batchFirst: LogIndex;
  readonly prefix: LogIndex;
  readonly needSnapshot: boolean;
}

/** Heartbeat asserts leadership, carries the commit index and tags a read round (`readContext`, 0 when none). */
export interface Heartbeat extends PaxosEnvelope {
  readonly type: "heartbeat";
  readonly commit: LogIndex;
  readonly readContext: number;
}

/** HeartbeatResponse says the acceptor has promised nothing above `ballot`; it echoes the read round. */
export interface HeartbeatResponse extends PaxosEnvelope {
  readonly type: "heartbeatResponse";
  readonly readContext: number;
  readonly prefix: LogIndex;
  readonly needSnapshot: boolean;
}

/** SnapshotMessage installs chosen state on a replica too far behind for the log. */
export interface SnapshotMessage extends PaxosEnvelope {
  readonly type: "snapshot";
  readonly snapshot: Snapshot;
}

/** TimeoutNow tells a caught-up voter to start phase 1 at once (leadership transfer). */
export interface TimeoutNow extends PaxosEnvelope {
  readonly type: "timeoutNow";
}

/** ReadIndexRequest is a follower forwarding a linearizable read to the leader. */
export interface ReadIndexRequest extends PaxosEnvelope {
  readonly type: "readIndex";
  readonly requestId: number;
}

/** ReadIndexResponse returns the read point, or `rejected` when the leader could not serve it. */
export interface ReadIndexResponse extends PaxosEnvelope {
  readonly type: "readIndexResponse";
  readonly requestId: number;
  readonly index: LogIndex;
  readonly rejected: boolean;
}

import type { Entry, Envelope, LogIndex, NodeId, Snapshot, Term } from "../types.js";

/**
 * RaftHardState is what a Raft node must persist before acknowledging anything:
 * its term, its vote in that term, and the commit index it has learned.
 */
export interface RaftHardState {
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

/** RaftMessage is every message Raft peers exchange; each carries the sender's term. */
export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

interface RaftEnvelope extends Envelope {
  readonly term: Term;
}

/** VoteRequest asks for a vote (or, with `preVote`, whether a vote would be granted). */
export interface VoteRequest extends RaftEnvelope {
  readonly type: "vote";
  readonly preVote: boolean;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** transfer marks a campaign started by TimeoutNow; it overrides the leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends RaftEnvelope {
  readonly type: "voteResponse";
  readonly preVote: boolean;
  readonly granted: boolean;
}

/** AppendRequest carries entries after (prevLogIndex, prevLogTerm), and the leader's commit. */
export interface AppendRequest extends RaftEnvelope {
  readonly type: "append";
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

/**
 * AppendResponse acknowledges the log up to `index` (success), or rejects the
 * append at `index` with a hint for fast backtracking: the follower's log has
 * term `hintTerm` at `hintIndex`, and no entry of a term above it before.
 */
export interface AppendResponse extends RaftEnvelope {
  readonly type: "appendResponse";
  readonly reject: boolean;
  readonly index: LogIndex;
  readonly hintIndex: LogIndex;
  readonly hintTerm: Term;
}

/** HeartbeatRequest asserts leadership; `readContext` tags a ReadIndex round (0 when none). */
export interface HeartbeatRequest extends RaftEnvelope {
  readonly type: "heartbeat";
  readonly commit: LogIndex;
  readonly readContext: number;
}

export interface HeartbeatResponse extends RaftEnvelope {
  readonly type: "heartbeatResponse";
  readonly readContext: number;
}

/** SnapshotRequest installs a whole snapshot on a follower too far behind for the log. */
export interface SnapshotRequest extends RaftEnvelope {
  readonly type: "snapshot";
  readonly snapshot: Snapshot;
}

/** TimeoutNow tells a caught-up follower to campaign at once (leadership transfer). */
export interface TimeoutNow extends RaftEnvelope {
  readonly type: "timeoutNow";
}

/** ReadIndexRequest is a follower forwarding a linearizable read to the leader. */
export interface ReadIndexRequest extends RaftEnvelope {
  readonly type: "readIndex";
  readonly requestId: number;
}

/** ReadIndexResponse returns the read point; `index` 0 with `rejected` means the leader could not serve it. */
export interface ReadIndexResponse extends RaftEnvelope {
  readonly type: "readIndexResponse";
  readonly requestId: number;
  readonly index: LogIndex;
  readonly rejected: boolean;
}

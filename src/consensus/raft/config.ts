import type { Entry, GroupId, Membership, NodeId, Random, Snapshot } from "../types.js";
import type { RaftHardState } from "./messages.js";
import { defaultEngineLimits } from "../limits.js";

/**
 * RaftFaults are test-only switches that plant known bugs, so the simulator can
 * prove it catches them. All are off in production; nothing outside tests sets them.
 */
export interface RaftFaults {
  /** Commit an entry of an earlier term by counting replicas (the Figure 8 bug). */
  readonly commitOldTermByCounting?: boolean;
  /** Grant votes without persisting the vote. */
  readonly forgetVotePersist?: boolean;
  /** Accept an append whose previous entry does not match. */
  readonly acceptMismatchedAppend?: boolean;
  /** Answer ReadIndex with the local commit index, without confirming leadership. */
  readonly readWithoutQuorumCheck?: boolean;
  /** Hand entries to the state machine before they are committed. */
  readonly applyBeforeCommit?: boolean;
  /** Count only the incoming majority while in a joint configuration. */
  readonly ignoreJointQuorum?: boolean;
}

/** RaftConfig holds a node's identity, its timing and every limit, with names. */
export interface RaftConfig {
  readonly id: NodeId;
  readonly groupId: GroupId;
  /** A follower campaigns after a random timeout in [electionTimeoutTicks, 2 * electionTimeoutTicks). */
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Bounds of one append message. At least one entry is always sent, whatever its size. */
  readonly appendEntriesMax: number;
  readonly appendBytesMax: number;
  /** Bounds of unacknowledged appends per follower in the replicate state. */
  readonly inflightMessagesMax: number;
  readonly inflightBytesMax: number;
  /** Bytes of appended-but-uncommitted entries beyond which proposals are rejected. */
  readonly uncommittedBytesMax: number;
  /** Bytes of one proposal's data beyond which it is rejected. */
  readonly entryBytesMax: number;
  /** ReadIndex requests waiting for a quorum round beyond which new ones are rejected. */
  readonly readsPendingMax: number;
  readonly random: Random;
  readonly faults?: RaftFaults;
}

/** defaultRaftLimits are sensible production values for everything but identity and randomness. */
export const defaultRaftLimits = {
  ...defaultEngineLimits,
  preVote: true,
  checkQuorum: true,
} as const;

/**
 * RaftDurableState is what a node restarts from: exactly what its driver made
 * durable. A brand-new member of a new group has no snapshot and an empty log;
 * `bootstrap` then names the initial members (empty for a node that joins an
 * existing group and waits to be contacted).
 */
export interface RaftDurableState {
  readonly hardState: RaftHardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly bootstrap: Membership;
}

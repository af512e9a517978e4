import { logIndex, term } from "../types.js";
import type { Entry, GroupId, Membership, NodeId, Random, Snapshot } from "../types.js";
import type { PaxosHardState } from "./messages.js";
import { defaultEngineLimits } from "../limits.js";

/**
 * PaxosFaults are test-only switches that plant known bugs, so the simulator can
 * prove it catches them. All are off in production; nothing outside tests sets them.
 */
export interface PaxosFaults {
  /** A new leader ignores the values other acceptors report in their promises. */
  readonly skipRecoveryOfAcceptedValues?: boolean;
  /** An acceptor accepts a ballot lower than the one it promised. */
  readonly acceptBelowPromise?: boolean;
  /** A promise is sent without the promised ballot being in the Ready's hard state. */
  readonly forgetPromisePersist?: boolean;
  /** Any minority (at least one node) counts as a quorum. */
  readonly minorityQuorum?: boolean;
  /** The leader answers readIndex with its commit index without a quorum round. */
  readonly readWithoutBallotCheck?: boolean;
}

/** PaxosConfig holds a node's identity, its timing and every limit, with names (the shape of RaftConfig). */
export interface PaxosConfig {
  /** id is this node's id, in [1, 2^16) because it is packed into ballots. */
  readonly id: NodeId;
  readonly groupId: GroupId;
  /**
   * A follower that hears no leader starts phase 1 after a random timeout in
   * [electionTimeoutTicks, 2 * electionTimeoutTicks); a candidate that does not
   * finish phase 1 in such a timeout retries with a higher round.
   */
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  /** Bounds of one accept (and promise) message. At least one entry is always sent, whatever its size. */
  readonly appendEntriesMax: number;
  readonly appendBytesMax: number;
  /** Bounds of unacknowledged accept batches per acceptor. */
  readonly inflightMessagesMax: number;
  readonly inflightBytesMax: number;
  /** Bytes of proposed-but-unchosen entries beyond which proposals are rejected. */
  readonly uncommittedBytesMax: number;
  /** Bytes of one proposal's data beyond which it is rejected. */
  readonly entryBytesMax: number;
  /** ReadIndex requests waiting for a quorum round (or forwarded) beyond which new ones are rejected. */
  readonly readsPendingMax: number;
  readonly random: Random;
  readonly faults?: PaxosFaults;
}

/** defaultPaxosLimits are sensible production values for everything but identity and randomness. */
export const defaultPaxosLimits = {
  ...defaultEngineLimits,
} as const;

/**
 * PaxosDurableState is what a node restarts from: exactly what its driver made
 * durable. `entries` are the accepted values per slot after the snapshot
 * (entries at or below the snapshot index are ignored). `bootstrap` names the
 * initial members of a new group (empty for a node that joins an existing group
 * and waits to be sent a snapshot).
 */
export interface PaxosDurableState {
  readonly hardState: PaxosHardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly bootstrap: Membership;
}

/** initialPaxosHardState is the hard state of a node that has never run. */
export const initialPaxosHardState: PaxosHardState = { promised: term(0), commit: logIndex(0) };

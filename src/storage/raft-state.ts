import type { RaftDurableState } from "../consensus/raft/config.js";
import type { RaftHardState } from "../consensus/raft/messages.js";
import type { Membership } from "../consensus/types.js";
import { logIndex, noNode, term } from "../consensus/types.js";
import type { DurableState } from "./group-storage.js";

/** emptyRaftHardState is the hard state of a node that never persisted one. */
export const emptyRaftHardState: RaftHardState = { term: term(0), vote: noNode, commit: logIndex(0) };

const noMembers: Membership = { voters: [], votersOutgoing: [], learners: [] };

/**
 * raftDurableState turns what a group's storage loaded into what a Raft engine
 * restarts from: a missing hard state is the empty one, a missing bootstrap is
 * the empty membership (a node that joins an existing group and waits).
 */
export function raftDurableState(state: DurableState<RaftHardState>): RaftDurableState {
  return {
    hardState: state.hardState ?? emptyRaftHardState,
    snapshot: state.snapshot,
    entries: state.entries,
    bootstrap: state.bootstrap ?? noMembers,
  };
}

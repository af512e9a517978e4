import type { ConfChange, Membership, NodeId } from "./types.js";

/** emptyMembership has no members: a node waiting to be contacted by a group. */
export const emptyMembership: Membership = { voters: [], votersOutgoing: [], learners: [] };

/** isJoint says whether a membership is in the middle of a joint-consensus change. */
export function isJoint(m: Membership): boolean {
  return m.votersOutgoing.length > 0;
}

/** isVoter says whether `id` votes in either half of `m`. */
export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.votersOutgoing.includes(id);
}

/** isMember says whether `id` is a voter or learner of `m`. */
export function isMember(m: Membership, id: NodeId): boolean {
  return isVoter(m, id) || m.learners.includes(id);
}

/** allMembers lists every voter and learner of `m` once, sorted. */
export function allMembers(m: Membership): NodeId[] {
  const set = new Set<NodeId>([...m.voters, ...m.votersOutgoing, ...m.learners]);
  return [...set].sort((a, b) => a - b);
}

/** MembershipResult is the outcome of applying a change: the new membership, or why not. */
export type MembershipResult =
  | { readonly ok: true; readonly membership: Membership }
  | { readonly ok: false; readonly error: string };

/**
 * applyConfChange computes the membership a change leads to.
 *
 * - Empty `ops` leaves a joint configuration (only valid while joint).
 * - Changes that touch only learners (add or remove a learner) apply directly.
 * - Any change of the voter set enters a joint configuration, the old voters
 *   becoming `votersOutgoing`; the leader leaves it with an empty change once the
 *   joint entry is committed (Raft thesis §4.3).
 * - Demoting a voter to learner is refused, as is removing every voter.
 */
export function applyConfChange(current: Membership, change: ConfChange): MembershipResult {
  if (change.ops.length === 0) {
    if (!isJoint(current)) return { ok: false, error: "not in a joint configuration" };
    return { ok: true, membership: { voters: current.voters, votersOutgoing: [], learners: current.learners } };
  }
  if (isJoint(current)) return { ok: false, error: "a joint configuration must be left before another change" };
  const voters = new Set(current.voters);
  const learners = new Set(current.learners);
  const touched = new Set<NodeId>();
  for (const op of change.ops) {
    if (op.node <= 0 || !Number.isInteger(op.node)) return { ok: false, error: `invalid node id ${op.node}` };
    if (touched.has(op.node)) return { ok: false, error: `node ${op.node} appears twice in one change` };
    touched.add(op.node);
    switch (op.type) {
      case "addVoter":
        if (voters.has(op.node)) return { ok: false, error: `node ${op.node} is already a voter` };
        learners.delete(op.node);
        voters.add(op.node);
        break;
      case "addLearner":
        if (voters.has(op.node)) return { ok: false, error: `node ${op.node} is a voter; demotion is not supported` };
        if (learners.has(op.node)) return { ok: false, error: `node ${op.node} is already a learner` };
        learners.add(op.node);
        break;
      case "removeNode":
        if (!voters.has(op.node) && !learners.has(op.node)) return { ok: false, error: `node ${op.node} is not a member` };
        voters.delete(op.node);
        learners.delete(op.node);
        break;
    }
  }
  if (voters.size === 0) return { ok: false, error: "a group needs at least one voter" };
  const sorted = (s: Set<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);
  const votersChanged = voters.size !== current.voters.length || current.voters.some((id) => !voters.has(id));
  return {
    ok: true,
    membership: {
      voters: sorted(voters),
      votersOutgoing: votersChanged ? [...current.voters] : [],
      learners: sorted(learners),
    },
  };
}

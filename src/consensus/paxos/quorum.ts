import type { Membership, NodeId } from "../types.js";

/**
 * Quorum math for Multi-Paxos over a (possibly joint) membership: while
 * `votersOutgoing` is non-empty a quorum is a majority of `voters` AND a
 * majority of `votersOutgoing`. Learners never count. `minority` is the planted
 * fault that lets any non-empty minority pass for a quorum (tests only).
 */
export interface QuorumOptions {
  readonly minority: boolean;
}

/** quorumSize is how many of `n` voters make a quorum. */
export function quorumSize(n: number, options: QuorumOptions): number {
  if (options.minority) return Math.max(1, Math.floor((n - 1) / 2));
  return Math.floor(n / 2) + 1;
}

function halfIndex(voters: readonly NodeId[], valueOf: (id: NodeId) => number, options: QuorumOptions): number {
  if (voters.length === 0) return Number.POSITIVE_INFINITY;
  const values = voters.map(valueOf).sort((a, b) => b - a);
  return values[quorumSize(voters.length, options) - 1] ?? 0;
}

/**
 * quorumIndex is the largest value that a quorum of `m` has reached according
 * to `valueOf` (a slot for phase 2, a read round for ReadIndex). A membership
 * without voters reaches nothing: 0.
 */
export function quorumIndex(m: Membership, valueOf: (id: NodeId) => number, options: QuorumOptions): number {
  if (m.voters.length === 0) return 0;
  const v = Math.min(halfIndex(m.voters, valueOf, options), halfIndex(m.votersOutgoing, valueOf, options));
  return Number.isFinite(v) ? v : 0;
}

/** hasQuorum says whether `acked` holds a quorum of `m`. */
export function hasQuorum(m: Membership, acked: ReadonlySet<NodeId>, options: QuorumOptions): boolean {
  return quorumIndex(m, (id) => (acked.has(id) ? 1 : 0), options) >= 1;
}

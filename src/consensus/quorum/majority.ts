import type { LogIndex, Membership, NodeId } from "../types.js";

/** VoteOutcome is the state of a tally: decided either way, or still open. */
export type VoteOutcome = "won" | "lost" | "pending";

/**
 * majorityIndex returns the largest index that a majority of `voters` have
 * reached according to `matchOf`. An empty voter set imposes no constraint
 * (it is the absent half of a non-joint configuration): +Infinity.
 */
export function majorityIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.POSITIVE_INFINITY;
  const matched = voters.map(matchOf).sort((a, b) => b - a);
  // The (n/2+1)-th largest value is reached by a majority.
  const value = matched[Math.floor(voters.length / 2)];
  return value ?? 0;
}

/** majorityVote tallies `votes` (true = granted) among `voters`; missing voters are undecided. */
export function majorityVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  if (voters.length === 0) return "won";
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = Math.floor(voters.length / 2) + 1;
  if (granted >= needed) return "won";
  if (voters.length - rejected < needed) return "lost";
  return "pending";
}

/**
 * QuorumRules are the joint-consensus rules over a Membership: while the outgoing
 * voter set is non-empty, every decision needs a majority of both halves.
 * `ignoreOutgoing` is a planted fault for tests only.
 */
export interface QuorumRules {
  readonly ignoreOutgoing: boolean;
}

/** jointCommittedIndex is the largest index a joint quorum has reached. */
export function jointCommittedIndex(
  membership: Membership,
  matchOf: (id: NodeId) => number,
  rules: QuorumRules,
): LogIndex {
  const incoming = majorityIndex(membership.voters, matchOf);
  const outgoing = rules.ignoreOutgoing ? Number.POSITIVE_INFINITY : majorityIndex(membership.votersOutgoing, matchOf);
  const index = Math.min(incoming, outgoing);
  return (Number.isFinite(index) ? index : 0) as LogIndex;
}

/** jointVote tallies votes under joint consensus: won needs both halves, lost needs either. */
export function jointVote(membership: Membership, votes: ReadonlyMap<NodeId, boolean>, rules: QuorumRules): VoteOutcome {
  const incoming = majorityVote(membership.voters, votes);
  const outgoing = rules.ignoreOutgoing ? "won" : majorityVote(membership.votersOutgoing, votes);
  if (incoming === "lost" || outgoing === "lost") return "lost";
  if (incoming === "won" && outgoing === "won") return "won";
  return "pending";
}

/** jointHasQuorum says whether the set `acked` holds a joint quorum. */
export function jointHasQuorum(membership: Membership, acked: ReadonlySet<NodeId>, rules: QuorumRules): boolean {
  const votes = new Map<NodeId, boolean>();
  for (const id of acked) votes.set(id, true);
  return jointVote(membership, votes, rules) === "won";
}

import { assert, term } from "../types.js";
import type { NodeId, Term } from "../types.js";

/**
 * A ballot is the pair (round, node id), ordered by round then node id, packed
 * into one number so it fits the engine-neutral `Term`:
 *
 *   ballot = round * 2^16 + nodeId        (node ids are in [1, 2^16))
 *
 * Two proposers never share a ballot (the node id breaks ties), and a proposer
 * never reuses one: a new round is always above every ballot it has promised or
 * seen, and its own promise of the ballot is durable before the ballot is used.
 * Ballot 0 is "none": nothing is promised or accepted under it.
 */
export const ballotNodeSpan = 0x10000;

/** zeroBallot is the ballot below every real one. */
export const zeroBallot: Term = term(0);

/** makeBallot packs (round, node) into one ordered number. */
export function makeBallot(round: number, node: NodeId): Term {
  assert(Number.isSafeInteger(round) && round >= 1, `ballot round ${round} must be a positive integer`);
  assert(Number.isInteger(node) && node >= 1 && node < ballotNodeSpan, `node id ${node} must be in [1, 2^16)`);
  const packed = round * ballotNodeSpan + node;
  assert(Number.isSafeInteger(packed), `ballot round ${round} overflows`);
  return term(packed);
}

/** ballotRound returns the round of a packed ballot. */
export function ballotRound(ballot: Term): number {
  return Math.floor(ballot / ballotNodeSpan);
}

/** ballotNode returns the node that owns a packed ballot (0 for the zero ballot). */
export function ballotNode(ballot: Term): NodeId {
  return (ballot % ballotNodeSpan) as NodeId;
}

/** nextBallot returns `node`'s smallest ballot above every ballot in `seen`. */
export function nextBallot(node: NodeId, seen: readonly Term[]): Term {
  let round = 0;
  for (const b of seen) round = Math.max(round, ballotRound(b));
  return makeBallot(round + 1, node);
}

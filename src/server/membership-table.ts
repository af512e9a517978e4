/**
 * The member table: which members the cluster has, as the etcd API reports
 * them, and the rules a membership change must pass before it is proposed.
 *
 * Pure: the caller hands in the engine's latest membership, the replicated
 * member records, the published attributes and what the leader knows of each
 * follower; nothing here reads the clock, the disk or the network.
 *
 * Ids: an initial member (from `--initial-cluster` with state `new`) has node
 * id 1..n by sorted name; a member added later has node id
 * {@link nodeIdOfMember} of its etcd member id, which is derived from its peer
 * URLs and the cluster token, so the new process computes both ids itself.
 */
import { allMembers, isVoter } from "../consensus/membership.js";
import { nodeId } from "../consensus/types.js";
import type { Membership, NodeId } from "../consensus/types.js";
import type { MemberAttributes, MemberRecord, MemberRecords } from "./kv-state-machine.js";

/** addedNodeIdMin: node ids of added members lie in [addedNodeIdMin, addedNodeIdEnd), above any initial cluster's 1..n. */
export const addedNodeIdMin = 1024;
/**
 * addedNodeIdEnd: node ids stay below 2^16 because the Paxos engine packs the
 * node id into 16 bits of its ballot; a collision of two added members is
 * refused at MemberAdd ("Peer URLs already exists").
 */
export const addedNodeIdEnd = 2 ** 16;

/** learnersMax is etcd's limit of learners in a cluster (etcd: 1). */
export const learnersMax = 1;

/** learnerReadyFraction: a learner may be promoted once its log holds this share of the leader's commit index (etcd: 90%). */
export const learnerReadyFraction = 0.9;

/** nodeIdOfMember maps an etcd member id to the engine node id of an added member, in [addedNodeIdMin, addedNodeIdEnd). */
export function nodeIdOfMember(memberId: bigint): NodeId {
  const span = BigInt(addedNodeIdEnd - addedNodeIdMin);
  return nodeId(addedNodeIdMin + Number(memberId % span));
}

/** Member is one member of the cluster as the etcd API reports it. */
export interface Member {
  readonly nodeId: NodeId;
  readonly id: bigint;
  /** name is empty until the member has started and published it (etcd's "unstarted"). */
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** MemberView is everything the table is computed from. */
export interface MemberView {
  /** membership is the engine's latest configuration. */
  readonly membership: Membership;
  readonly records: MemberRecords;
  /** initial are the members this process knows from its own flags, for node ids not (yet) recorded. */
  readonly initial: readonly MemberRecord[];
  readonly published: ReadonlyMap<number, MemberAttributes>;
}

/** recordOf finds what is known of node `id`: its replicated record, else what the flags say of it. */
export function recordOf(view: MemberView, id: NodeId): MemberRecord | undefined {
  return view.records.records.get(id) ?? view.initial.find((r) => r.nodeId === id && !view.records.removed.has(r.memberId));
}

/**
 * listMembers is the member list: every node of the latest membership that
 * has a record, by node id, with `isLearner` from the engine and the name and
 * client URLs it published (none yet: empty name and no client URLs).
 */
export function listMembers(view: MemberView): Member[] {
  const out: Member[] = [];
  for (const id of allMembers(view.membership)) {
    const record = recordOf(view, id);
    if (record === undefined) continue;
    const attributes = view.published.get(id);
    out.push({
      nodeId: id,
      id: BigInt(record.memberId),
      name: attributes?.name ?? "",
      peerUrls: record.peerUrls,
      clientUrls: attributes?.clientUrls ?? [],
      isLearner: view.membership.learners.includes(id),
    });
  }
  return out;
}

/** MemberErrorCode names why a membership request is refused; the API layer maps each to etcd's error. */
export type MemberErrorCode =
  | "badUrls"
  | "peerUrlExists"
  | "idRemoved"
  | "notFound"
  | "notLearner"
  | "learnerNotReady"
  | "tooManyLearners"
  | "unhealthy";

/** MemberError refuses a membership request; nothing was changed. */
export class MemberError extends Error {
  constructor(
    readonly code: MemberErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "MemberError";
  }
}

/** AddPlan is a checked MemberAdd: the record to replicate and the engine change to propose after it. */
export interface AddPlan {
  readonly record: MemberRecord;
  readonly isLearner: boolean;
}

/**
 * planAdd checks a MemberAdd and returns what to propose, or the error etcd
 * gives: a peer URL taken by a member (or a node id already in use), an id
 * that was removed (ids are never reused), too many learners, or a voter
 * addition that would leave fewer active voters than the new quorum.
 */
export function planAdd(view: MemberView, request: { readonly memberId: bigint; readonly peerUrls: readonly string[]; readonly isLearner: boolean }, active: ReadonlySet<NodeId>): AddPlan | MemberError {
  if (request.peerUrls.length === 0) return new MemberError("badUrls", "no peer URLs given");
  const node = nodeIdOfMember(request.memberId);
  const memberId = request.memberId.toString();
  if (view.records.removed.has(memberId)) return new MemberError("idRemoved", `member ${request.memberId.toString(16)} was removed; its id is never reused`);
  for (const id of allMembers(view.membership)) {
    const record = recordOf(view, id);
    if (id === node || record?.memberId === memberId) return new MemberError("peerUrlExists", `node id ${node} is in use`);
    if (record !== undefined && record.peerUrls.some((u) => request.peerUrls.includes(u))) return new MemberError("peerUrlExists", `a peer URL is used by member ${BigInt(record.memberId).toString(16)}`);
  }
  if (request.isLearner) {
    if (view.membership.learners.length >= learnersMax) return new MemberError("tooManyLearners", `a cluster has at most ${learnersMax} learner`);
  } else if (!quorumActive([...view.membership.voters, node], active)) {
    return new MemberError("unhealthy", "adding a voter would leave too few active voters for a quorum");
  }
  return { record: { nodeId: node, memberId, peerUrls: [...request.peerUrls] }, isLearner: request.isLearner };
}

/** findMember finds the member with etcd id `memberId` in the latest membership; a removed or unknown id is notFound. */
export function findMember(view: MemberView, memberId: bigint): Member | MemberError {
  const member = listMembers(view).find((m) => m.id === memberId);
  return member ?? new MemberError("notFound", `member ${memberId.toString(16)} not found`);
}

/**
 * checkPromote checks a MemberPromote: the member must be a learner whose log
 * holds at least 90% of the leader's commit index (etcd's rule), and the
 * voters with it must stay a quorum of active ones.
 */
export function checkPromote(view: MemberView, memberId: bigint, progress: { readonly match: number; readonly leaderCommit: number } | undefined, active: ReadonlySet<NodeId>): Member | MemberError {
  const member = findMember(view, memberId);
  if (member instanceof MemberError) return member;
  if (!member.isLearner) return new MemberError("notLearner", `member ${memberId.toString(16)} is not a learner`);
  if (progress === undefined || !learnerInSync(progress.match, progress.leaderCommit)) {
    return new MemberError("learnerNotReady", `learner ${memberId.toString(16)} is not in sync with the leader`);
  }
  const activeWithLearner = new Set(active).add(member.nodeId);
  if (!quorumActive([...view.membership.voters, member.nodeId], activeWithLearner)) return new MemberError("unhealthy", "too few active voters");
  return member;
}

/** checkRemove checks a MemberRemove: the member exists, and removing a voter leaves a quorum of active voters. */
export function checkRemove(view: MemberView, memberId: bigint, active: ReadonlySet<NodeId>): Member | MemberError {
  const member = findMember(view, memberId);
  if (member instanceof MemberError) return member;
  if (isVoter(view.membership, member.nodeId)) {
    const remaining = view.membership.voters.filter((id) => id !== member.nodeId);
    if (remaining.length === 0 || !quorumActive(remaining, active)) return new MemberError("unhealthy", "removing this voter would leave too few active voters");
  }
  return member;
}

/** checkUpdate checks a MemberUpdate: the member exists and no other member uses the new peer URLs. */
export function checkUpdate(view: MemberView, memberId: bigint, peerUrls: readonly string[]): MemberRecord | MemberError {
  if (peerUrls.length === 0) return new MemberError("badUrls", "no peer URLs given");
  const member = findMember(view, memberId);
  if (member instanceof MemberError) return member;
  for (const other of listMembers(view)) {
    if (other.id !== memberId && other.peerUrls.some((u) => peerUrls.includes(u))) return new MemberError("peerUrlExists", `a peer URL is used by member ${other.id.toString(16)}`);
  }
  return { nodeId: member.nodeId, memberId: memberId.toString(), peerUrls: [...peerUrls] };
}

/** learnerInSync is etcd's readiness rule: the learner holds at least 90% of what the leader has committed. */
export function learnerInSync(match: number, leaderCommit: number): boolean {
  return match >= leaderCommit * learnerReadyFraction;
}

/** quorumActive tells whether a majority of `voters` is active. */
export function quorumActive(voters: readonly NodeId[], active: ReadonlySet<NodeId>): boolean {
  const unique = [...new Set(voters)];
  return unique.filter((id) => active.has(id)).length >= Math.floor(unique.length / 2) + 1;
}

/**
 * MemberAdmin carries out the etcd Cluster service's changes (add, promote,
 * remove, update) for one server. Every change is decided by the leader: a
 * follower forwards the request over the peer link and relays the answer.
 * On the leader, a change is checked against the member table
 * (membership-table.ts), its member record goes through the log first, then
 * the engine's configuration change, and the answer waits until the change
 * is committed (and a joint configuration left).
 */
import { Packr } from "msgpackr";
import { isJoint, isMember, isVoter } from "../consensus/membership.js";
import type { ConfChangeOp, EngineStatus, FollowerProgress, NodeId } from "../consensus/types.js";
import { noNode } from "../consensus/types.js";
import { ReplicaError } from "../replica/errors.js";
import type { ReplicaErrorCode } from "../replica/errors.js";
import type { MemberRecordChange } from "./kv-state-machine.js";
import { MemberRecordError } from "./kv-state-machine.js";
import { checkPromote, checkRemove, checkUpdate, learnerInSync, listMembers, MemberError, planAdd } from "./membership-table.js";
import type { Member, MemberErrorCode, MemberView } from "./membership-table.js";

/** MemberRequest is one Cluster service change; ids are etcd member ids. */
export type MemberRequest =
  | { readonly op: "add"; readonly memberId: bigint; readonly peerUrls: readonly string[]; readonly isLearner: boolean }
  | { readonly op: "promote"; readonly memberId: bigint }
  | { readonly op: "remove"; readonly memberId: bigint }
  | { readonly op: "update"; readonly memberId: bigint; readonly peerUrls: readonly string[] };

/** MemberAnswer is what a change answers: the member concerned (for add) and the member list after it. */
export interface MemberAnswer {
  readonly member?: Member;
  readonly members: readonly Member[];
}

/** MemberAdminPort is what MemberAdmin needs of its server. */
export interface MemberAdminPort {
  readonly self: NodeId;
  readonly tickMs: number;
  readonly requestTimeoutMs: number;
  status(): EngineStatus;
  followerProgress(): ReadonlyMap<NodeId, FollowerProgress>;
  proposeConfChange(ops: readonly ConfChangeOp[]): { ok: true; index: number } | { ok: false; reason: string };
  transferLeadership(to: NodeId): boolean;
  view(): MemberView;
  /** activeVoters are the members the leader heard from recently, itself included. */
  active(): ReadonlySet<NodeId>;
  replicate(change: MemberRecordChange): Promise<void>;
  /** forward sends an encoded request to the leader and resolves with its encoded answer. */
  forward(leader: NodeId, body: Uint8Array, deadline: number): Promise<Uint8Array>;
  waitForLeader(deadline: number): Promise<void>;
  stopped(): boolean;
}

/**
 * forwardAttemptMsMin bounds one wait for the leader's answer to a forwarded
 * change; then the request is forwarded again, to whoever leads by then. A
 * change the old leader did carry out is then refused as a duplicate (a taken
 * peer URL, an unknown member), never applied twice.
 */
const forwardAttemptMsMin = 2000;

const packr = new Packr({ useRecords: false, moreTypes: false });

/** WireOutcome is a forwarded request's answer on the peer link (ids as decimal strings). */
type WireOutcome =
  | { readonly ok: true; readonly member?: WireMember; readonly members: readonly WireMember[] }
  | { readonly ok: false; readonly kind: "member"; readonly code: MemberErrorCode; readonly message: string }
  | { readonly ok: false; readonly kind: "replica"; readonly code: ReplicaErrorCode; readonly message: string };

/** WireMember is a Member as it crosses the peer link: msgpack carries the node id as a plain number and the etcd id as text. */
type WireMember = Omit<Member, "nodeId" | "id"> & { readonly nodeId: number; readonly id: string };

export class MemberAdmin {
  constructor(private readonly port: MemberAdminPort) {}

  /** handle runs a change on the leader (forwarding it there if need be) and answers it, or throws MemberError / ReplicaError. */
  async handle(request: MemberRequest): Promise<MemberAnswer> {
    const deadline = Date.now() + this.port.requestTimeoutMs;
    for (;;) {
      await this.port.waitForLeader(deadline);
      const leader = this.port.status().leader;
      try {
        if (leader === this.port.self) {
          const answer = await this.lead(request, deadline);
          if (answer !== "handedOver") return answer;
        } else {
          // The leader this member knows may be gone (it has not noticed yet): ask again after a bounded wait.
          const attemptDeadline = Math.min(deadline, Date.now() + forwardAttemptMsMin);
          const reply = await this.port.forward(leader, encodeRequest(request), attemptDeadline);
          return decodeOutcome(reply);
        }
      } catch (error) {
        const retryable = error instanceof ReplicaError && (error.code === "notLeader" || error.code === "noLeader" || (error.code === "timeout" && leader !== this.port.self));
        if (!retryable || Date.now() >= deadline) throw error;
      }
      await sleep(this.port.tickMs);
    }
  }

  /** serveForwarded answers a request a follower forwarded to this member (which should lead). */
  async serveForwarded(body: Uint8Array): Promise<Uint8Array> {
    let outcome: WireOutcome;
    try {
      const request = decodeRequest(body);
      const deadline = Date.now() + this.port.requestTimeoutMs;
      if (this.port.status().role !== "leader") throw new ReplicaError("notLeader", "etcdserver: not leader");
      const answer = await this.lead(request, deadline);
      if (answer === "handedOver") throw new ReplicaError("notLeader", "etcdserver: not leader");
      outcome = { ok: true, ...(answer.member === undefined ? {} : { member: toWire(answer.member) }), members: answer.members.map(toWire) };
    } catch (error) {
      if (error instanceof MemberError) outcome = { ok: false, kind: "member", code: error.code, message: error.message };
      else if (error instanceof ReplicaError) outcome = { ok: false, kind: "replica", code: error.code, message: error.message };
      else outcome = { ok: false, kind: "replica", code: "timeout", message: error instanceof Error ? error.message : String(error) };
    }
    return packr.pack(outcome);
  }

  /**
   * autoPromote, on the leader, promotes every learner that is in sync
   * (`--auto-promote`); refusals (not in sync, a change in progress) wait for the next round.
   */
  async autoPromote(): Promise<void> {
    const status = this.port.status();
    if (status.role !== "leader" || isJoint(status.membership)) return;
    const progress = this.port.followerProgress();
    for (const id of status.membership.learners) {
      const match = progress.get(id)?.match ?? 0;
      if (!learnerInSync(match, status.commitIndex)) continue;
      const member = listMembers(this.port.view()).find((m) => m.nodeId === id);
      if (member === undefined) continue;
      await this.lead({ op: "promote", memberId: member.id }, Date.now() + this.port.requestTimeoutMs).catch(() => undefined);
      return; // one change at a time
    }
  }

  /** lead carries out a request on the leader; "handedOver" when it first gave leadership away (removing itself). */
  private async lead(request: MemberRequest, deadline: number): Promise<MemberAnswer | "handedOver"> {
    const view = this.port.view();
    const active = this.port.active();
    switch (request.op) {
      case "add": {
        const plan = throwIfError(planAdd(view, request, active));
        await this.replicate({ action: "put", record: plan.record });
        const node = plan.record.nodeId as NodeId;
        await this.changeConfig([{ type: plan.isLearner ? "addLearner" : "addVoter", node }], (s) => (plan.isLearner ? s.membership.learners.includes(node) : isVoter(s.membership, node)), deadline);
        const members = listMembers(this.port.view());
        return { member: members.find((m) => m.nodeId === node) ?? { nodeId: node, id: request.memberId, name: "", peerUrls: plan.record.peerUrls, clientUrls: [], isLearner: plan.isLearner }, members };
      }
      case "promote": {
        const status = this.port.status();
        const target = listMembers(view).find((m) => m.id === request.memberId);
        const match = target === undefined ? undefined : this.port.followerProgress().get(target.nodeId)?.match;
        const member = throwIfError(checkPromote(view, request.memberId, match === undefined ? undefined : { match, leaderCommit: status.commitIndex }, active));
        await this.changeConfig([{ type: "addVoter", node: member.nodeId }], (s) => s.membership.voters.includes(member.nodeId), deadline);
        return { members: listMembers(this.port.view()) };
      }
      case "remove": {
        // The record of a removal may have landed without its configuration change (the
        // leader changed between the two): a retried removal finishes it.
        const unfinished = view.records.removed.get(request.memberId.toString());
        if (unfinished !== undefined && isMember(view.membership, unfinished.nodeId as NodeId) && unfinished.nodeId !== this.port.self) {
          const node = unfinished.nodeId as NodeId;
          await this.changeConfig([{ type: "removeNode", node }], (s) => !isMember(s.membership, node), deadline);
          return { members: listMembers(this.port.view()) };
        }
        const member = throwIfError(checkRemove(view, request.memberId, active));
        if (member.nodeId === this.port.self) {
          await this.handOver(view, deadline);
          return "handedOver";
        }
        const record = { nodeId: member.nodeId, memberId: member.id.toString(), peerUrls: member.peerUrls };
        await this.replicate({ action: "remove", record });
        await this.changeConfig([{ type: "removeNode", node: member.nodeId }], (s) => !isMember(s.membership, member.nodeId), deadline);
        return { members: listMembers(this.port.view()) };
      }
      case "update": {
        const record = throwIfError(checkUpdate(view, request.memberId, request.peerUrls));
        await this.replicate({ action: "put", record });
        return { members: listMembers(this.port.view()) };
      }
    }
  }

  private async replicate(change: MemberRecordChange): Promise<void> {
    try {
      await this.port.replicate(change);
    } catch (error) {
      if (error instanceof MemberRecordError) throw new MemberError(error.code, error.message);
      throw error;
    }
  }

  /**
   * changeConfig proposes an engine configuration change (waiting while
   * another one is in progress) and resolves once it is committed, `done`
   * holds and no joint configuration is left to leave.
   */
  private async changeConfig(ops: readonly ConfChangeOp[], done: (s: EngineStatus) => boolean, deadline: number): Promise<void> {
    let index = 0;
    while (index === 0) {
      if (this.port.stopped()) throw new ReplicaError("stopped", "etcdserver: server stopped");
      if (this.port.status().role !== "leader") throw new ReplicaError("notLeader", "etcdserver: not leader");
      if (done(this.port.status()) && !isJoint(this.port.status().membership)) return;
      const proposed = this.port.proposeConfChange(ops);
      if (proposed.ok) index = proposed.index;
      else if (proposed.reason !== "confChangePending" && proposed.reason !== "transferring") throw new ReplicaError("overloaded", `etcdserver: configuration change refused (${proposed.reason})`);
      else if (Date.now() >= deadline) throw new ReplicaError("timeout", "etcdserver: request timed out");
      else await sleep(this.port.tickMs);
    }
    for (;;) {
      const s = this.port.status();
      if (s.commitIndex >= index && done(s) && !isJoint(s.membership)) return;
      if (this.port.stopped()) throw new ReplicaError("stopped", "etcdserver: server stopped");
      if (Date.now() >= deadline) throw new ReplicaError("timeout", "etcdserver: request timed out");
      await sleep(Math.min(this.port.tickMs, 20));
    }
  }

  /** handOver gives leadership to the most caught-up other voter, as moveLeader does, and waits until it leads. */
  private async handOver(view: MemberView, deadline: number): Promise<void> {
    const progress = this.port.followerProgress();
    const others = view.membership.voters.filter((id) => id !== this.port.self && this.port.active().has(id));
    const target = others.sort((a, b) => (progress.get(b)?.match ?? 0) - (progress.get(a)?.match ?? 0))[0];
    if (target === undefined) throw new MemberError("unhealthy", "no other active voter to hand leadership to");
    this.port.transferLeadership(target);
    while (this.port.status().leader === this.port.self || this.port.status().leader === noNode) {
      if (this.port.stopped()) throw new ReplicaError("stopped", "etcdserver: server stopped");
      if (Date.now() >= deadline) throw new ReplicaError("timeout", "etcdserver: request timed out");
      await sleep(Math.min(this.port.tickMs, 20));
    }
  }
}

function throwIfError<T>(value: T | MemberError): T {
  if (value instanceof MemberError) throw value;
  return value;
}

function toWire(m: Member): WireMember {
  return { nodeId: m.nodeId, id: m.id.toString(), name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner: m.isLearner };
}

function fromWire(m: WireMember): Member {
  return { nodeId: m.nodeId as NodeId, id: BigInt(m.id), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner };
}

function encodeRequest(request: MemberRequest): Uint8Array {
  return packr.pack({ ...request, memberId: request.memberId.toString() });
}

function decodeRequest(body: Uint8Array): MemberRequest {
  const value = packr.unpack(body) as Record<string, unknown>;
  const memberId = typeof value["memberId"] === "string" && /^[0-9]{1,20}$/.test(value["memberId"]) ? BigInt(value["memberId"]) : undefined;
  const peerUrls = Array.isArray(value["peerUrls"]) && value["peerUrls"].every((u) => typeof u === "string") ? (value["peerUrls"]) : undefined;
  if (memberId === undefined) throw new MemberError("notFound", "malformed member id");
  switch (value["op"]) {
    case "add":
      if (peerUrls === undefined) break;
      return { op: "add", memberId, peerUrls, isLearner: value["isLearner"] === true };
    case "update":
      if (peerUrls === undefined) break;
      return { op: "update", memberId, peerUrls };
    case "promote":
      return { op: "promote", memberId };
    case "remove":
      return { op: "remove", memberId };
  }
  throw new MemberError("badUrls", "malformed member request");
}

function decodeOutcome(body: Uint8Array): MemberAnswer {
  const outcome = packr.unpack(body) as WireOutcome;
  if (outcome.ok) return { ...(outcome.member === undefined ? {} : { member: fromWire(outcome.member) }), members: outcome.members.map(fromWire) };
  if (outcome.kind === "member") throw new MemberError(outcome.code, outcome.message);
  throw new ReplicaError(outcome.code, outcome.message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

import { allMembers, applyConfChange, isJoint, isMember, isVoter } from "../membership.js";
import { assert, assertNever, logIndex, noNode, term } from "../types.js";
import type {
  CompactResult,
  ConfChange,
  Engine,
  EngineStatus,
  FollowerProgress,
  Entry,
  LogIndex,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  ReadState,
  Ready,
  Role,
  Snapshot,
  Term,
  TransferResult,
} from "../types.js";
import { Acceptor } from "./acceptor.js";
import type { MessageBounds } from "./acceptor.js";
import { ballotNode, ballotNodeSpan, nextBallot, zeroBallot } from "./ballot.js";
import type { PaxosConfig, PaxosDurableState, PaxosFaults } from "./config.js";
import { Learner } from "./learner.js";
import { entryBytes, PaxosLog } from "./log.js";
import type {
  Accept,
  Accepted,
  Heartbeat,
  HeartbeatResponse,
  Nack,
  PaxosHardState,
  PaxosMessage,
  Prepare,
  PromiseReply,
  ReadIndexRequest,
  ReadIndexResponse,
  SnapshotMessage,
  TimeoutNow,
} from "./messages.js";
import { batchBytes, PhaseOne, Progress } from "./proposer.js";
import { quorumIndex } from "./quorum.js";
import type { QuorumOptions } from "./quorum.js";

/** Outgoing is a message before the engine stamps its group and sender on it. */
type Outgoing = PaxosMessage extends infer M ? (M extends PaxosMessage ? Omit<M, "groupId" | "from"> : never) : never;

/** PendingRead is a ReadIndex request held by the leader until a quorum confirms its ballot. */
interface PendingRead {
  readonly requestId: number;
  /** from is the node that asked (this node, or a follower that forwarded it). */
  readonly from: NodeId;
  /** index is the commit index when the read got its round (0 while it waits for recovery). */
  index: LogIndex;
  /** round is the heartbeat round that must be confirmed (0 while unassigned). */
  round: number;
}

/** stalledHeartbeatsMax is how many heartbeat replies showing an acceptor behind, with no ack between, trigger a resend. */
const stalledHeartbeatsMax = 3;

/**
 * PaxosEngine is Multi-Paxos with a stable leader behind the engine-neutral
 * `Engine` surface. It is pure: time is `tick()`, randomness the injected
 * `Random`, and all I/O goes through `Ready`.
 *
 * Roles and steps, in the words of "Paxos Made Simple":
 * - proposer (proposer.ts, and the `campaign`/`becomeLeader`/`sendAccepts`
 *   methods here): phase 1a `prepare` once for every slot from the first one not
 *   known chosen; on promises from a quorum, phase 2a `accept` for each slot —
 *   the recovered value of every open slot (re-proposed under the new ballot),
 *   no-ops in holes, then new client values, pipelined;
 * - acceptor (acceptor.ts): phase 1b `promise`, phase 2b `accepted`;
 * - learner (learner.ts): a slot is decided when a quorum accepted it under one
 *   ballot; the leader learns that from the `accepted` replies and tells
 *   everyone with the commit index piggybacked on accepts and heartbeats.
 *
 * The log is the acceptor's accepted values, one per slot (index = slot,
 * `Entry.term` = the ballot under which it was accepted). Ballots are
 * (round, node id) packed into one number (ballot.ts); `status().term` is the
 * highest ballot promised.
 *
 * What a proposer can rely on: `propose` returns {index: slot, term: ballot}.
 * The value can only ever be chosen at that slot. When the slot is applied:
 * if the applied entry's data is the proposed data (callers embed a unique
 * request id), the proposal succeeded; if it is different data, it definitely
 * failed. The applied entry's term alone does NOT decide it: a later leader
 * re-proposes a recovered value under its own ballot, so the same data may be
 * chosen with a higher term. (Same slot and same term does imply same data:
 * one ballot proposes at most one value per slot.)
 *
 * Membership changes (why this is safe): a config entry chosen at slot s
 * governs the quorums of slots > s; slots <= s are governed by the
 * configuration before it. This is Lamport's α-window with α = 1 made safe by
 * stopping the pipeline: the leader sends no phase 2 message for a slot beyond
 * the first config entry not yet chosen, so every slot it counts votes for is
 * governed by the configuration it knows (the one after every chosen slot).
 * Phase 1, in turn, needs a quorum of the configuration at its first slot AND
 * of every configuration the recovered values bring in (see
 * `PhaseOne.configChain`): a chosen config entry is always recovered, so a new
 * leader always asks the quorums that may have chosen later slots. On top of
 * this, voter changes go through joint consensus (the shared `applyConfChange`
 * rules): while `votersOutgoing` is non-empty every quorum needs both
 * majorities, and the leader proposes the leave-joint entry itself once the
 * joint configuration is chosen. One change is pending at a time.
 */
export class PaxosEngine implements Engine<PaxosMessage, PaxosHardState> {
  private readonly id: NodeId;
  private readonly faults: Required<PaxosFaults>;
  private readonly quorum: QuorumOptions;
  private readonly bounds: MessageBounds;
  private readonly log: PaxosLog;
  private readonly acceptor: Acceptor;
  private readonly learner: Learner;

  private role: Role = "follower";
  private leader: NodeId = noNode;
  /** ballot is this node's own ballot while it is candidate or leader. */
  private ballot: Term = zeroBallot;
  /** highestSeen is the highest ballot seen in any message, so a new round goes above it. */
  private highestSeen: Term;
  private electionElapsed = 0;
  private electionTimeout = 0;
  private heartbeatElapsed = 0;

  private phaseOne: PhaseOne | null = null;
  private readonly progress = new Map<NodeId, Progress>();
  /** recoveryEnd is the last slot recovered by phase 1; reads wait until it is chosen. */
  private recoveryEnd: LogIndex = logIndex(0);
  /** pendingConfig is the first config slot above commit in the leader's log (0 when none). */
  private pendingConfig = 0;
  private uncommittedBytes = 0;
  private transferee: NodeId = noNode;
  private transferElapsed = 0;
  private timeoutNowSent = false;

  private reads: PendingRead[] = [];
  private readRound = 0;
  /** forwarded maps a read forwarded to the leader to its age in ticks. */
  private readonly forwarded = new Map<number, number>();

  private outbox: PaxosMessage[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: number[] = [];
  private persistedHardState: PaxosHardState;

  constructor(
    private readonly config: PaxosConfig,
    durable: PaxosDurableState,
  ) {
    assert(Number.isInteger(config.id) && config.id >= 1 && config.id < ballotNodeSpan, `node id ${config.id} must be in [1, 2^16)`);
    assert(config.electionTimeoutTicks >= 1 && config.heartbeatTicks >= 1, "ticks must be positive");
    assert(config.heartbeatTicks < config.electionTimeoutTicks, "heartbeats must be more frequent than election timeouts");
    assert(config.appendEntriesMax >= 1 && config.inflightMessagesMax >= 1 && config.readsPendingMax >= 1, "limits must be positive");
    this.id = config.id;
    const f = config.faults ?? {};
    this.faults = {
      skipRecoveryOfAcceptedValues: f.skipRecoveryOfAcceptedValues === true,
      acceptBelowPromise: f.acceptBelowPromise === true,
      forgetPromisePersist: f.forgetPromisePersist === true,
      minorityQuorum: f.minorityQuorum === true,
      readWithoutBallotCheck: f.readWithoutBallotCheck === true,
    };
    this.quorum = { minority: this.faults.minorityQuorum };
    this.bounds = { entriesMax: config.appendEntriesMax, bytesMax: config.appendBytesMax };
    this.log = new PaxosLog(durable.snapshot, durable.entries);
    this.acceptor = new Acceptor(this.log, durable.hardState.promised, this.faults);
    this.learner = new Learner(this.log, durable.hardState.commit, durable.bootstrap);
    this.persistedHardState = durable.hardState;
    this.highestSeen = durable.hardState.promised;
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------- inputs

  step(msg: PaxosMessage): void {
    if (msg.groupId !== this.config.groupId || msg.to !== this.id || msg.from === this.id) return;
    if (msg.ballot > this.highestSeen) this.highestSeen = msg.ballot;
    switch (msg.type) {
      case "prepare":
        return this.onPrepare(msg);
      case "promise":
        return this.onPromise(msg);
      case "nack":
        return this.onNack(msg);
      case "accept":
        return this.onAccept(msg);
      case "accepted":
        return this.onAccepted(msg);
      case "heartbeat":
        return this.onHeartbeat(msg);
      case "heartbeatResponse":
        return this.onHeartbeatResponse(msg);
      case "snapshot":
        return this.onSnapshot(msg);
      case "timeoutNow":
        return this.onTimeoutNow(msg);
      case "readIndex":
        return this.onReadIndex(msg);
      case "readIndexResponse":
        return this.onReadIndexResponse(msg);
      default:
        return assertNever(msg);
    }
  }

  tick(): void {
    this.ageForwardedReads();
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    if (data.length > this.config.entryBytesMax) return this.reject("entryBytesMax");
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.config.uncommittedBytesMax) {
      return this.reject("uncommittedBytesMax");
    }
    const e = this.appendEntry({ type: "normal", data });
    return { ok: true, index: e.index, term: e.term };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    if (this.pendingConfig !== 0) return this.reject("confChangePending");
    if (!applyConfChange(this.learner.membership, change).ok) return this.reject("invalidConfChange");
    const e = this.appendEntry({ type: "config", change });
    return { ok: true, index: e.index, term: e.term };
  }

  readIndex(requestId: number): ReadIndexResult {
    if (this.role === "leader") {
      if (this.faults.readWithoutBallotCheck) {
        // Planted fault: serve from the local commit index without asking anyone.
        this.readStates.push({ requestId, index: this.learner.commit });
        return { ok: true };
      }
      if (this.reads.length >= this.config.readsPendingMax) return { ok: false, reason: "readsPendingMax", leader: this.id };
      this.reads.push({ requestId, from: this.id, index: logIndex(0), round: 0 });
      this.startReadRound();
      return { ok: true };
    }
    if (this.role === "follower" && this.leader !== noNode) {
      if (this.forwarded.size >= this.config.readsPendingMax) return { ok: false, reason: "readsPendingMax", leader: this.leader };
      this.forwarded.set(requestId, 0);
      this.send({ type: "readIndex", to: this.leader, ballot: this.acceptor.promised, requestId });
      return { ok: true };
    }
    return { ok: false, reason: "noLeader", leader: noNode };
  }

  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== "leader") return { ok: false, reason: "notLeader" };
    if (to === this.id) return { ok: false, reason: "self" };
    if (this.transferee !== noNode) return { ok: false, reason: "transferring" };
    const m = this.learner.membership;
    if (!isMember(m, to)) return { ok: false, reason: "unknownNode" };
    if (!isVoter(m, to)) return { ok: false, reason: "learner" };
    this.transferee = to;
    this.transferElapsed = 0;
    this.timeoutNowSent = false;
    this.maybeSendTimeoutNow();
    return { ok: true };
  }

  compact(index: LogIndex, data: Uint8Array): CompactResult {
    if (index > this.learner.applied) return { ok: false, reason: "notApplied" };
    if (index <= this.log.snapshotIndex()) return { ok: false, reason: "alreadyCompacted" };
    const membership = this.learner.membershipAt(index);
    const snapshot: Snapshot = { meta: { index, term: this.log.termAt(index), membership }, data };
    this.learner.base = membership;
    this.log.compact(snapshot);
    return { ok: true };
  }

  latestSnapshot(): Snapshot | null {
    return this.log.snapshot;
  }

  // ---------------------------------------------------------------- Ready

  hasReady(): boolean {
    return (
      this.outbox.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      this.learner.pendingSnapshot !== null ||
      this.log.hasUnpersisted() ||
      this.hardStateChanged() ||
      this.learner.hasCommittedToApply()
    );
  }

  ready(): Ready<PaxosMessage, PaxosHardState> {
    const snapshot = this.learner.takeSnapshot();
    const entries = this.log.takeUnpersisted();
    const hardState = this.hardStateChanged() ? this.hardState() : null;
    if (hardState !== null) this.persistedHardState = hardState;
    const rd: Ready<PaxosMessage, PaxosHardState> = {
      hardState,
      entries,
      snapshot,
      messages: this.outbox,
      // Every message waits for persistence: accepts and promises acknowledge, and the leader counts its own accept at once.
      messagesBeforePersist: [],
      committedEntries: this.learner.takeCommitted(),
      readStates: this.readStates,
      droppedReads: this.droppedReads,
    };
    this.outbox = [];
    this.readStates = [];
    this.droppedReads = [];
    return rd;
  }

  advance(rd: Ready<PaxosMessage, PaxosHardState>): void {
    this.log.markPersisted();
    if (rd.snapshot !== null) this.learner.appliedTo(rd.snapshot.meta.index);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last !== undefined) this.learner.appliedTo(last.index);
    // The leader's own acceptance counts only once durable.
    if (this.role === "leader") this.maybeCommit();
  }

  status(): EngineStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.acceptor.promised,
      leader: this.leader,
      commitIndex: this.learner.commit,
      appliedIndex: this.learner.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      membership: this.learner.membership,
    };
  }

  followerProgress(): ReadonlyMap<NodeId, FollowerProgress> {
    const out = new Map<NodeId, FollowerProgress>();
    if (this.role !== "leader") return out;
    for (const [id, pr] of this.progress) if (id !== this.id) out.set(id, { match: logIndex(pr.match) });
    return out;
  }

  entryAt(index: LogIndex): Entry | undefined {
    return this.log.entry(index);
  }

  private hardState(): PaxosHardState {
    return { promised: this.acceptor.durablePromised, commit: this.learner.commit };
  }

  private hardStateChanged(): boolean {
    const h = this.hardState();
    return h.promised !== this.persistedHardState.promised || h.commit !== this.persistedHardState.commit;
  }

  // ---------------------------------------------------------------- time

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed < this.electionTimeout) return;
    if (isVoter(this.learner.membership, this.id)) this.campaign();
    else this.resetElectionTimer();
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
    if (this.transferee !== noNode && ++this.transferElapsed >= this.config.electionTimeoutTicks) {
      this.transferee = noNode; // the target did not take over in time: resume serving
    }
    if (this.transferee === noNode && this.heldConfig() !== 0) this.handOver();
    if (++this.electionElapsed >= this.config.electionTimeoutTicks) {
      this.electionElapsed = 0;
      this.checkQuorum();
    }
  }

  /** checkQuorum steps down a leader that has not heard from a quorum for an election timeout. */
  private checkQuorum(): void {
    const active = new Set<NodeId>([this.id]);
    for (const [id, pr] of this.progress) {
      if (pr.active) active.add(id);
      pr.active = false;
    }
    if (quorumIndex(this.learner.membership, (id) => (active.has(id) ? 1 : 0), this.quorum) < 1) {
      this.becomeFollower(noNode);
    }
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    // Randomized backoff: duelling proposers retry at different times and converge.
    const t = this.config.electionTimeoutTicks;
    this.electionTimeout = t + this.config.random.nextInt(t);
  }

  // ---------------------------------------------------------------- roles

  /** campaign starts phase 1 with a ballot above every ballot promised or seen. */
  private campaign(): void {
    if (!isVoter(this.learner.membership, this.id)) {
      this.becomeFollower(noNode);
      return;
    }
    const ballot = nextBallot(this.id, [this.acceptor.promised, this.highestSeen]);
    const fromSlot = logIndex(this.learner.commit + 1);
    const own = this.acceptor.prepare(ballot, fromSlot, null);
    assert(own.kind === "promise" && own.complete, "a proposer's own promise is complete");
    if (this.role === "leader") this.abandonLeadership();
    this.role = "candidate";
    this.leader = noNode;
    this.ballot = ballot;
    this.dropForwardedReads();
    this.resetElectionTimer();
    const p1 = new PhaseOne(ballot, fromSlot, this.learner.membership);
    p1.add(this.id, own.entries, this.learner.commit, true, false);
    this.phaseOne = p1;
    this.sendPrepares(p1);
    if (p1.won(this.quorum)) this.becomeLeader(p1);
  }

  private sendPrepares(p1: PhaseOne): void {
    for (const to of p1.voters()) {
      if (to === this.id || p1.asked.has(to)) continue;
      p1.asked.add(to);
      this.send({ type: "prepare", to, ballot: p1.ballot, fromSlot: p1.fromSlot });
    }
  }

  /**
   * becomeLeader ends phase 1: every open slot gets its recovered value (or a
   * no-op), re-proposed under this ballot, before any new client value.
   */
  private becomeLeader(p1: PhaseOne): void {
    this.phaseOne = null;
    this.role = "leader";
    this.leader = this.id;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    // Slots learned chosen during phase 1 (learnChosen) keep the values and ballots they were chosen with.
    const recovered = p1.recovered().filter((e) => e.index > this.learner.commit);
    for (const e of recovered) this.log.write(e);
    this.recoveryEnd = logIndex(Math.max(this.learner.commit, p1.lastSlot()));
    this.uncommittedBytes = batchBytes(recovered);
    this.pendingConfig = this.firstConfigAfterCommit();
    this.transferee = noNode;
    this.reads = [];
    this.readRound = 0;
    this.progress.clear();
    this.syncProgress(p1.fromSlot);
    if (isJoint(this.learner.membership) && this.pendingConfig === 0) this.appendEntry({ type: "config", change: { ops: [] } });
    this.bcastAccepts();
    this.bcastHeartbeat();
  }

  private becomeFollower(leader: NodeId): void {
    if (this.role === "leader") this.abandonLeadership();
    this.role = "follower";
    this.phaseOne = null;
    this.ballot = zeroBallot;
    if (leader !== this.leader) this.dropForwardedReads();
    this.leader = leader;
    this.resetElectionTimer();
  }

  /** abandonLeadership gives up everything only a leader holds; waiting reads are dropped, never left hanging. */
  private abandonLeadership(): void {
    for (const r of this.reads) {
      if (r.from === this.id) this.droppedReads.push(r.requestId);
      else this.send({ type: "readIndexResponse", to: r.from, ballot: this.ballot, requestId: r.requestId, index: logIndex(0), rejected: true });
    }
    this.reads = [];
    this.progress.clear();
    this.transferee = noNode;
    this.pendingConfig = 0;
    this.uncommittedBytes = 0;
  }

  /** followLeader records that `from` leads under `ballot`, which this acceptor just took part in. */
  private followLeader(from: NodeId, ballot: Term): void {
    if (this.role !== "follower" && ballot > this.ballot) this.becomeFollower(from);
    if (this.leader !== from) {
      this.dropForwardedReads();
      this.leader = from;
    }
    this.electionElapsed = 0;
  }

  // ---------------------------------------------------------------- acceptor side

  private onPrepare(m: Prepare): void {
    const out = this.acceptor.prepare(m.ballot, m.fromSlot, this.bounds);
    if (out.kind === "nack") {
      this.send({ type: "nack", to: m.from, ballot: m.ballot, promised: out.promised });
      return;
    }
    if (this.role !== "follower" && m.ballot > this.ballot) this.becomeFollower(noNode);
    else if (this.leader !== noNode && this.leader !== m.from) {
      // Promised away from the old leader: its heartbeats will be refused now.
      this.dropForwardedReads();
      this.leader = noNode;
    }
    this.electionElapsed = 0;
    this.send({
      type: "promise",
      to: m.from,
      ballot: m.ballot,
      fromSlot: m.fromSlot,
      entries: out.entries,
      commit: this.learner.commit,
      complete: out.complete,
    });
    // The candidate is behind this node's snapshot: it cannot finish phase 1 without it.
    const snapshot = this.log.snapshot;
    if (out.compacted && snapshot !== null) this.send({ type: "snapshot", to: m.from, ballot: m.ballot, snapshot });
  }

  private onAccept(m: Accept): void {
    if (!this.hasBase()) {
      if (m.ballot >= this.acceptor.promised) this.followLeader(m.from, m.ballot);
      const batchFirst = m.entries[0]?.index ?? logIndex(0);
      this.send({ type: "accepted", to: m.from, ballot: m.ballot, reject: true, batchFirst, prefix: this.learner.commit, needSnapshot: true });
      return;
    }
    const out = this.acceptor.accept(m.ballot, m.entries, m.commit, this.learner.commit);
    if (out.kind === "nack") {
      this.send({ type: "nack", to: m.from, ballot: m.ballot, promised: out.promised });
      return;
    }
    this.followLeader(m.from, m.ballot);
    if (out.kind === "ok") this.commitTo(Math.min(m.commit, out.prefix));
    const prefix = this.acceptor.prefixFor(m.ballot, this.learner.commit);
    const batchFirst = m.entries[0]?.index ?? logIndex(0);
    this.send({ type: "accepted", to: m.from, ballot: m.ballot, reject: out.kind === "reject", batchFirst, prefix, needSnapshot: false });
  }

  private onHeartbeat(m: Heartbeat): void {
    const out = this.acceptor.heartbeat(m.ballot, this.learner.commit);
    if (out.kind !== "ok") {
      if (out.kind === "nack") this.send({ type: "nack", to: m.from, ballot: m.ballot, promised: out.promised });
      return;
    }
    this.followLeader(m.from, m.ballot);
    const base = this.hasBase();
    if (base) this.commitTo(Math.min(m.commit, out.prefix));
    this.send({
      type: "heartbeatResponse",
      to: m.from,
      ballot: m.ballot,
      readContext: m.readContext,
      prefix: this.acceptor.prefixFor(m.ballot, this.learner.commit),
      needSnapshot: !base,
    });
  }

  /**
   * onSnapshot installs chosen state. It comes from the leader (catch-up), or
   * from an acceptor answering a candidate that is behind its snapshot: the
   * sender owns the ballot exactly when it is the leader.
   */
  private onSnapshot(m: SnapshotMessage): void {
    if (m.ballot < this.acceptor.promised) {
      this.send({ type: "nack", to: m.from, ballot: m.ballot, promised: this.acceptor.promised });
      return;
    }
    const fromLeader = ballotNode(m.ballot) === m.from;
    if (fromLeader) this.followLeader(m.from, m.ballot);
    // A leader recovered every open slot in phase 1; a snapshot meant for it as a candidate is late.
    if (this.role === "leader") return;
    const snap = m.snapshot;
    if (snap.meta.index > this.learner.commit || !this.hasBase()) {
      this.log.installSnapshot(snap);
      this.learner.installSnapshot(snap);
      // Phase 1 must start after the snapshot, if this node still votes at all.
      if (this.role === "candidate") this.campaign();
    }
    if (fromLeader) {
      const prefix = this.acceptor.prefixFor(m.ballot, this.learner.commit);
      this.send({ type: "accepted", to: m.from, ballot: m.ballot, reject: false, batchFirst: logIndex(0), prefix, needSnapshot: false });
    }
  }

  private onTimeoutNow(m: TimeoutNow): void {
    if (m.from !== this.leader || m.ballot < this.acceptor.promised) return;
    if (isVoter(this.learner.membership, this.id)) this.campaign();
  }

  /** hasBase says whether this replica knows its group's configuration (a new member learns it from a snapshot). */
  private hasBase(): boolean {
    return this.learner.base.voters.length > 0 || this.log.snapshot !== null;
  }

  // ---------------------------------------------------------------- proposer side

  private onPromise(m: PromiseReply): void {
    const p1 = this.phaseOne;
    if (this.role !== "candidate" || p1 === null || m.ballot !== p1.ballot) return;
    this.learnChosen(m);
    if (this.role !== "candidate") return;
    p1.add(m.from, m.entries, m.commit, m.complete, this.faults.skipRecoveryOfAcceptedValues);
    const last = m.entries[m.entries.length - 1];
    if (!m.complete && last !== undefined) {
      // The report was cut at the message limits: ask for the next page under the same ballot. Phase 1
      // is making progress, so the election timer starts again: a long gap takes many pages, and
      // restarting with a higher ballot would start the paging over (the acceptors, which reset their
      // own timers on every prepare, would wait on it forever). The pages end with the log.
      this.electionElapsed = 0;
      this.send({ type: "prepare", to: m.from, ballot: p1.ballot, fromSlot: logIndex(last.index + 1) });
      return;
    }
    this.sendPrepares(p1);
    if (p1.won(this.quorum)) this.becomeLeader(p1);
  }

  /**
   * learnChosen takes from a promise the values its acceptor knows chosen (the
   * ones at or below its commit index) right after this node's own commit
   * index, and learns them chosen here too, exactly as a catch-up accept
   * would. A candidate far behind thus learns the configurations chosen since
   * it last heard from a leader: if it no longer votes it stops campaigning,
   * instead of asking, one higher ballot after another, for promises from
   * members that may be long gone (every prepare resets the acceptors' timers,
   * so nobody else would campaign).
   */
  private learnChosen(m: PromiseReply): void {
    const commit = this.learner.commit;
    const first = m.entries[0];
    if (first === undefined || first.index > commit + 1 || m.commit <= commit) return;
    const upTo = Math.min(m.commit, first.index + m.entries.length - 1);
    if (upTo <= commit) return;
    for (const e of m.entries) {
      if (e.index > commit && e.index <= upTo) this.log.write(e);
    }
    this.commitTo(upTo);
    if (!isVoter(this.learner.membership, this.id)) this.becomeFollower(noNode);
  }

  private onNack(m: Nack): void {
    if (m.promised > this.highestSeen) this.highestSeen = m.promised;
    if (this.role !== "follower" && m.ballot === this.ballot && m.promised > this.ballot) this.becomeFollower(noNode);
  }

  private onAccepted(m: Accepted): void {
    const pr = this.progress.get(m.from);
    if (this.role !== "leader" || m.ballot !== this.ballot || pr === undefined) return;
    pr.active = true;
    if (m.reject && !pr.isInflight(m.batchFirst)) {
      // A batch sent before the leader last resumed: already handled.
    } else if (m.needSnapshot) {
      pr.resetTo(m.prefix);
      pr.needSnapshot = true;
    } else if (m.reject || pr.snapshotPending) {
      // A rejected batch, or the acknowledgement of a snapshot (nothing else was in flight): resume after the prefix.
      pr.resetTo(m.prefix);
    } else {
      pr.ackedTo(m.prefix);
      pr.stalled = 0;
    }
    this.maybeCommit();
    if (this.role !== "leader") return;
    this.sendAccepts(m.from, pr);
    this.maybeSendTimeoutNow();
  }

  private onHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (this.role !== "leader" || m.ballot !== this.ballot || pr === undefined) return;
    pr.active = true;
    if (m.readContext > pr.readAck) {
      pr.readAck = m.readContext;
      this.confirmReads();
    }
    if (m.needSnapshot) {
      if (!pr.snapshotPending) pr.needSnapshot = true;
    } else if (m.prefix > pr.match) {
      pr.ackedTo(m.prefix);
      this.maybeCommit();
      if (this.role !== "leader") return;
    }
    if (pr.snapshotPending || pr.next - 1 > m.prefix) {
      // Behind what was sent: with nothing in flight, resume at once; otherwise the batches (or the
      // snapshot) were probably lost, once several heartbeats in a row show no progress.
      const idle = !pr.hasInflight() && !pr.snapshotPending;
      if (idle || ++pr.stalled >= stalledHeartbeatsMax) pr.resetTo(m.prefix);
    }
    this.sendAccepts(m.from, pr);
    this.maybeSendTimeoutNow();
  }

  private refuseProposal(): ProposeResult | null {
    if (this.role !== "leader") return { ok: false, reason: "notLeader", leader: this.leader };
    if (this.transferee !== noNode) return this.reject("transferring");
    return null;
  }

  private reject(reason: "transferring" | "uncommittedBytesMax" | "entryBytesMax" | "confChangePending" | "invalidConfChange"): ProposeResult {
    return { ok: false, reason, leader: this.leader };
  }

  /** appendEntry is phase 2a for a new value: this node accepts it, then it goes to every acceptor. */
  private appendEntry(body: { type: "normal"; data: Uint8Array } | { type: "config"; change: ConfChange }): Entry {
    const index = logIndex(this.log.lastIndex() + 1);
    const e: Entry = body.type === "normal" ? { index, term: this.ballot, type: "normal", data: body.data } : { index, term: this.ballot, type: "config", change: body.change };
    this.log.write(e);
    this.uncommittedBytes += entryBytes(e);
    if (e.type === "config" && this.pendingConfig === 0) this.pendingConfig = index;
    this.bcastAccepts();
    return e;
  }

  /**
   * sendLimit is the last slot phase 2 may run for: the first config entry not
   * yet chosen stops the pipeline (see the class comment), and a config entry
   * that would remove this leader is not run at all (see `heldConfig`).
   */
  private sendLimit(): number {
    if (this.pendingConfig === 0) return this.log.lastIndex();
    return this.heldConfig() !== 0 ? this.pendingConfig - 1 : this.pendingConfig;
  }

  /**
   * heldConfig is the pending config slot when choosing it would leave this
   * leader without a vote (only leaving a joint configuration can), else 0.
   *
   * A leader never drives its own removal: the moment such an entry is chosen,
   * the removed members may be shut down, and if the leader were the only one
   * to know it was chosen, the remaining voters would still be in the joint
   * configuration, needing a quorum of members that are gone, forever. So the
   * leader stops phase 2 just below it and hands leadership to a voter of the
   * next configuration (`handOver`), which recovers the entry in its phase 1
   * (or, if it is lost, proposes the leave itself) and learns that it is chosen
   * as the one who chooses it.
   */
  private heldConfig(): number {
    if (this.pendingConfig === 0) return 0;
    const e = this.log.entry(this.pendingConfig);
    if (e?.type !== "config") return 0;
    const next = applyConfChange(this.learner.membership, e.change);
    return next.ok && !isVoter(next.membership, this.id) ? this.pendingConfig : 0;
  }

  /** handOver starts a transfer to the most caught-up voter of the configuration a held entry leads to. */
  private handOver(): void {
    const e = this.log.entry(this.pendingConfig);
    if (e?.type !== "config") return;
    const next = applyConfChange(this.learner.membership, e.change);
    if (!next.ok) return;
    let best: NodeId = noNode;
    let bestMatch = -1;
    for (const [id, pr] of this.progress) {
      if (!next.membership.voters.includes(id) || pr.match <= bestMatch) continue;
      best = id;
      bestMatch = pr.match;
    }
    if (best !== noNode) this.transferLeadership(best);
  }

  private firstConfigAfterCommit(): number {
    for (const e of this.log.slice(this.learner.commit + 1, this.log.lastIndex() + 1)) {
      if (e.type === "config") return e.index;
    }
    return 0;
  }

  private bcastAccepts(): void {
    for (const [id, pr] of this.progress) this.sendAccepts(id, pr);
  }

  /** sendAccepts pipelines accept batches to one acceptor, within the message and in-flight bounds. */
  private sendAccepts(to: NodeId, pr: Progress): void {
    if (pr.snapshotPending) return;
    if (pr.needSnapshot || pr.next <= this.log.snapshotIndex()) {
      this.sendSnapshot(to, pr);
      return;
    }
    const limit = this.sendLimit();
    while (pr.next <= limit && !pr.isFull(this.config.inflightMessagesMax, this.config.inflightBytesMax)) {
      const entries = this.boundedSlice(pr.next, limit);
      const last = entries[entries.length - 1];
      assert(last !== undefined, `slot ${pr.next} missing from the leader's log`);
      this.send({ type: "accept", to, ballot: this.ballot, entries, commit: this.learner.commit });
      pr.sent(pr.next, last.index, batchBytes(entries));
    }
  }

  private boundedSlice(from: number, limit: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (const e of this.log.slice(from, Math.min(limit, from + this.config.appendEntriesMax - 1) + 1)) {
      if (out.length > 0 && bytes + entryBytes(e) > this.config.appendBytesMax) break;
      out.push(e);
      bytes += entryBytes(e);
    }
    return out;
  }

  /**
   * sendSnapshot sends the latest snapshot; before any compaction a member
   * that has nothing gets an empty snapshot at slot 0 carrying the group's
   * initial configuration.
   */
  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snapshot: Snapshot = this.log.snapshot ?? {
      meta: { index: logIndex(0), term: term(0), membership: this.learner.base },
      data: new Uint8Array(0),
    };
    pr.snapshotPending = true;
    pr.needSnapshot = false;
    this.send({ type: "snapshot", to, ballot: this.ballot, snapshot });
  }

  /** maybeCommit finds the highest slot a quorum accepted under this ballot (phase 2 decided). */
  private maybeCommit(): void {
    const own = this.log.stableLast;
    const chosen = quorumIndex(this.learner.membership, (id) => (id === this.id ? own : (this.progress.get(id)?.match ?? 0)), this.quorum);
    const limit = Math.min(chosen, this.sendLimit());
    if (limit > this.learner.commit) this.commitTo(limit);
  }

  /** commitTo learns that every slot up to `slot` is chosen (and held locally). */
  private commitTo(slot: number): void {
    const before = this.learner.commit;
    if (slot <= before) return;
    const configs = this.learner.commitTo(slot);
    if (this.role !== "leader") return;
    let freed = 0;
    for (const e of this.log.slice(before + 1, slot + 1)) freed += entryBytes(e);
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - freed);
    if (this.pendingConfig !== 0 && this.pendingConfig <= slot) this.pendingConfig = this.firstConfigAfterCommit();
    if (configs.length > 0) this.onMembershipChosen();
    if (this.role !== "leader") return;
    this.startReadRound();
    this.bcastAccepts();
  }

  /** onMembershipChosen reacts, on the leader, to a configuration that just took effect. */
  private onMembershipChosen(): void {
    const m = this.learner.membership;
    if (!isVoter(m, this.id)) {
      this.bcastHeartbeat(); // tell the others what is chosen before leaving
      this.becomeFollower(noNode);
      return;
    }
    this.syncProgress(this.learner.commit + 1);
    if (this.transferee !== noNode && !isVoter(m, this.transferee)) this.transferee = noNode;
    if (isJoint(m) && this.pendingConfig === 0) this.appendEntry({ type: "config", change: { ops: [] } });
  }

  /** syncProgress tracks exactly the other members of the current configuration. */
  private syncProgress(next: number): void {
    const members = new Set(allMembers(this.learner.membership));
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      if (id !== this.id && !this.progress.has(id)) this.progress.set(id, new Progress(next));
    }
  }

  private bcastHeartbeat(): void {
    for (const to of this.progress.keys()) {
      this.send({ type: "heartbeat", to, ballot: this.ballot, commit: this.learner.commit, readContext: this.readRound });
    }
  }

  private maybeSendTimeoutNow(): void {
    if (this.transferee === noNode || this.timeoutNowSent) return;
    const pr = this.progress.get(this.transferee);
    if (pr === undefined) return;
    // Slots above sendLimit were never sent; the transferee recovers them from this node's promise.
    if (pr.match >= this.sendLimit()) {
      this.timeoutNowSent = true;
      this.send({ type: "timeoutNow", to: this.transferee, ballot: this.ballot });
    } else {
      this.sendAccepts(this.transferee, pr);
    }
  }

  // ---------------------------------------------------------------- reads

  /**
   * startReadRound gives every waiting read the current commit index and a new
   * heartbeat round. A new leader first waits until every slot it recovered is
   * chosen: only then does its commit index cover every value chosen (and
   * possibly acknowledged) before it took over.
   */
  private startReadRound(): void {
    if (this.role !== "leader" || this.learner.commit < this.recoveryEnd) return;
    if (!this.reads.some((r) => r.round === 0)) return;
    this.readRound++;
    for (const r of this.reads) {
      if (r.round !== 0) continue;
      r.round = this.readRound;
      r.index = this.learner.commit;
    }
    this.bcastHeartbeat();
    this.confirmReads();
  }

  /** confirmReads releases the reads whose round a quorum confirmed: nobody had promised a higher ballot. */
  private confirmReads(): void {
    const confirmed = quorumIndex(
      this.learner.membership,
      (id) => (id === this.id ? this.readRound : (this.progress.get(id)?.readAck ?? 0)),
      this.quorum,
    );
    while (this.reads[0] !== undefined && this.reads[0].round !== 0 && this.reads[0].round <= confirmed) {
      const r = this.reads[0];
      this.reads.shift();
      if (r.from === this.id) this.readStates.push({ requestId: r.requestId, index: r.index });
      else this.send({ type: "readIndexResponse", to: r.from, ballot: this.ballot, requestId: r.requestId, index: r.index, rejected: false });
    }
  }

  private onReadIndex(m: ReadIndexRequest): void {
    const refuse = (): void =>
      this.send({ type: "readIndexResponse", to: m.from, ballot: m.ballot, requestId: m.requestId, index: logIndex(0), rejected: true });
    if (this.role !== "leader") return refuse();
    if (this.faults.readWithoutBallotCheck) {
      this.send({ type: "readIndexResponse", to: m.from, ballot: this.ballot, requestId: m.requestId, index: this.learner.commit, rejected: false });
      return;
    }
    if (this.reads.length >= this.config.readsPendingMax) return refuse();
    this.reads.push({ requestId: m.requestId, from: m.from, index: logIndex(0), round: 0 });
    this.startReadRound();
  }

  private onReadIndexResponse(m: ReadIndexResponse): void {
    if (!this.forwarded.delete(m.requestId)) return;
    if (m.rejected) this.droppedReads.push(m.requestId);
    else this.readStates.push({ requestId: m.requestId, index: m.index });
  }

  private dropForwardedReads(): void {
    for (const id of this.forwarded.keys()) this.droppedReads.push(id);
    this.forwarded.clear();
  }

  /** ageForwardedReads gives up on forwarded reads unanswered for two election timeouts (lost messages). */
  private ageForwardedReads(): void {
    for (const [id, age] of this.forwarded) {
      if (age + 1 >= 2 * this.config.electionTimeoutTicks) {
        this.forwarded.delete(id);
        this.droppedReads.push(id);
      } else {
        this.forwarded.set(id, age + 1);
      }
    }
  }

  // ---------------------------------------------------------------- output

  private send(m: Outgoing): void {
    this.outbox.push({ ...m, groupId: this.config.groupId, from: this.id });
  }
}

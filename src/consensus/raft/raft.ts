import { jointCommittedIndex, jointHasQuorum, jointVote } from "../quorum/majority.js";
import type { QuorumRules } from "../quorum/majority.js";
import { allMembers, applyConfChange, emptyMembership, isJoint, isMember, isVoter } from "../membership.js";
import { assert, assertNever, noNode } from "../types.js";
import type {
  CompactResult,
  ConfChange,
  ConfChangeOp,
  Engine,
  EngineStatus,
  FollowerProgress,
  Entry,
  LogIndex,
  Membership,
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
import type { RaftConfig, RaftDurableState, RaftFaults } from "./config.js";
import { entryBytes, RaftLog } from "./log.js";
import type {
  AppendRequest,
  AppendResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  RaftHardState,
  RaftMessage,
  ReadIndexRequest,
  ReadIndexResponse,
  SnapshotRequest,
  VoteRequest,
  VoteResponse,
} from "./messages.js";
import { Progress } from "./progress.js";

type Outgoing = RaftMessage extends infer M ? (M extends RaftMessage ? Omit<M, "groupId" | "from" | "term"> : never) : never;

/** A linearizable read waiting for a quorum to confirm this leader. */
interface PendingRead {
  readonly context: number;
  readonly requestId: number;
  readonly index: LogIndex;
  /** The follower that forwarded it, or this node. */
  readonly origin: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * RaftEngine is the Raft algorithm (extended paper and Ongaro's thesis) with
 * PreVote, CheckQuorum, pipelined replication with flow control, fast log
 * backtracking, ReadIndex, snapshots, joint-consensus membership changes and
 * leadership transfer. It is pure: see `../types.ts` for the driver contract.
 *
 * Membership follows the thesis: a configuration takes effect as soon as its
 * entry is in the log (appended, not committed), and is rolled back if that
 * entry is truncated. A leader accepts a new change only once the previous one
 * is committed, and leaves a joint configuration on its own once it commits.
 */
export class RaftEngine implements Engine<RaftMessage, RaftHardState> {
  private readonly config: RaftConfig;
  private readonly faults: RaftFaults;
  private readonly quorumRules: QuorumRules;
  private readonly log: RaftLog;

  private term: Term;
  private vote: NodeId;
  private role: Role = "follower";
  private leader: NodeId = noNode;
  private membership: Membership;
  /** Config entries in the log after the snapshot, in index order: membership history. */
  private configEntries: { index: LogIndex; membership: Membership }[] = [];

  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;

  private votes = new Map<NodeId, boolean>();
  private progress = new Map<NodeId, Progress>();
  private leadTransferee: NodeId = noNode;
  /** Index of the latest config entry this leader appended; a new change waits until it commits. */
  private pendingConfIndex: LogIndex = 0 as LogIndex;
  private uncommittedBytes = 0;

  /** New entries were appended since the last broadcast; ready() sends them. */
  private appendPending = false;
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: { requestId: number; origin: NodeId }[] = [];
  private readContextNext = 1;

  private messages: RaftMessage[] = [];
  /** A leader's appends, heartbeats, snapshots and TimeoutNow: they acknowledge nothing. */
  private messagesBeforePersist: RaftMessage[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: number[] = [];
  private persistedHardState: RaftHardState;

  constructor(config: RaftConfig, durable: RaftDurableState) {
    assert(config.id > 0, "node id is positive");
    assert(config.heartbeatTicks > 0 && config.heartbeatTicks < config.electionTimeoutTicks, "heartbeat < election timeout");
    this.config = config;
    this.faults = config.faults ?? {};
    this.quorumRules = { ignoreOutgoing: this.faults.ignoreJointQuorum === true };
    const fresh = durable.snapshot === null && durable.entries.length === 0 && durable.hardState.term === 0;
    this.log = new RaftLog({
      snapshot: durable.snapshot,
      entries: durable.entries,
      commit: durable.hardState.commit,
      bootstrap: emptyMembership,
    });
    this.term = durable.hardState.term;
    this.vote = durable.hardState.vote;
    this.persistedHardState = durable.hardState;
    this.membership = this.log.snapshotBoundary().membership;
    for (let i = this.log.firstIndex(); i <= this.log.lastIndex(); i++) {
      const entry = this.log.entryAt(i);
      if (entry?.type === "config") this.recordConfigEntry(entry);
    }
    if (fresh && durable.bootstrap.voters.length > 0) this.bootstrap(durable.bootstrap);
    this.resetRandomizedElectionTimeout();
  }

  /**
   * bootstrap starts a new group: every initial member writes the same first
   * entry, a committed config entry in term 1 naming the initial members, so a
   * member added later learns the whole membership history from the log.
   */
  private bootstrap(initial: Membership): void {
    const ops: ConfChangeOp[] = [
      ...initial.voters.map((node) => ({ type: "addVoter" as const, node })),
      ...initial.learners.map((node) => ({ type: "addLearner" as const, node })),
    ];
    const entry: Entry = { index: 1 as LogIndex, term: 1 as Term, type: "config", change: { ops } };
    this.log.append([entry]);
    this.recordConfigEntry(entry);
    this.term = 1 as Term;
    this.log.commitTo(1);
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickFollower();
  }

  private tickFollower(): void {
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks && this.promotable()) {
      this.electionElapsedTicks = 0;
      this.campaign({ preVote: this.config.preVote, transfer: false });
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    for (const [id, pr] of this.progress) {
      if (id === this.config.id || pr.state !== "snapshot") continue;
      // A snapshot message may be lost; after an election timeout, probe again.
      if (++pr.snapshotElapsedTicks >= this.config.electionTimeoutTicks) pr.becomeProbe();
    }
    if (this.electionElapsedTicks >= this.config.electionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, noNode);
        return;
      }
      for (const [id, pr] of this.progress) pr.recentActive = id === this.config.id;
      this.leadTransferee = noNode;
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat(0);
    }
  }

  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== undefined) return refused;
    if (data.length > this.config.entryBytesMax) return this.reject("entryBytesMax");
    return this.appendProposal({ type: "normal", data });
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== undefined) return refused;
    if (this.pendingConfIndex > this.log.committed || isJoint(this.membership)) return this.reject("confChangePending");
    if (change.ops.length === 0 || !applyConfChange(this.membership, change).ok) return this.reject("invalidConfChange");
    return this.appendProposal({ type: "config", change });
  }

  private refuseProposal(): ProposeResult | undefined {
    if (this.role !== "leader") return this.reject("notLeader");
    if (this.leadTransferee !== noNode) return this.reject("transferring");
    return undefined;
  }

  private reject(reason: Extract<ProposeResult, { ok: false }>["reason"]): ProposeResult {
    return { ok: false, reason, leader: this.leader };
  }

  private appendProposal(body: { type: "normal"; data: Uint8Array } | { type: "config"; change: ConfChange }): ProposeResult {
    const index = (this.log.lastIndex() + 1) as LogIndex;
    const entry: Entry = body.type === "normal" ? { index, term: this.term, ...body } : { index, term: this.term, ...body };
    const size = entryBytes(entry);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.config.uncommittedBytesMax) {
      return this.reject("uncommittedBytesMax");
    }
    this.appendEntries([entry]);
    return { ok: true, index, term: this.term };
  }

  readIndex(requestId: number): ReadIndexResult {
    if (this.faults.readWithoutQuorumCheck === true) {
      this.readStates.push({ requestId, index: this.log.committed });
      return { ok: true };
    }
    if (this.role === "leader") {
      if (this.pendingReads.length + this.readsAwaitingCommit.length >= this.config.readsPendingMax) {
        return { ok: false, reason: "readsPendingMax", leader: this.leader };
      }
      this.leaderReadIndex(requestId, this.config.id);
      return { ok: true };
    }
    if (this.leader === noNode) return { ok: false, reason: "noLeader", leader: noNode };
    this.send({ type: "readIndex", to: this.leader, requestId });
    return { ok: true };
  }

  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== "leader") return { ok: false, reason: "notLeader" };
    if (to === this.config.id) return { ok: false, reason: "self" };
    const pr = this.progress.get(to);
    if (pr === undefined) return { ok: false, reason: "unknownNode" };
    if (!isVoter(this.membership, to)) return { ok: false, reason: "learner" };
    if (this.leadTransferee !== noNode) return { ok: false, reason: "transferring" };
    this.leadTransferee = to;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsedTicks = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: "timeoutNow", to });
    else this.sendAppend(to);
    return { ok: true };
  }

  compact(index: LogIndex, data: Uint8Array): CompactResult {
    const boundary = this.log.snapshotBoundary();
    if (index <= boundary.index) return { ok: false, reason: "alreadyCompacted" };
    if (index > this.log.applied) return { ok: false, reason: "notApplied" };
    const term = this.log.termAt(index);
    assert(term !== undefined, "applied index is in the log");
    const snapshot: Snapshot = { meta: { index, term, membership: this.membershipAt(index) }, data };
    this.log.compact(snapshot);
    this.configEntries = this.configEntries.filter((c) => c.index > index);
    return { ok: true };
  }

  // ---------------------------------------------------------------- ready / advance

  hasReady(): boolean {
    return (
      this.appendPending ||
      this.messages.length > 0 ||
      this.messagesBeforePersist.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      this.log.pendingSnapshot !== null ||
      this.log.hasUnpersisted() ||
      this.hardStateChanged() ||
      this.applyLimit() > this.log.applyHandedTo
    );
  }

  ready(): Ready<RaftMessage, RaftHardState> {
    if (this.appendPending) {
      this.appendPending = false;
      if (this.role === "leader") this.broadcastAppend();
    }
    const snapshot = this.log.pendingSnapshot;
    this.log.pendingSnapshot = null;
    const entries = this.log.takeUnpersisted();
    const hardState = this.hardStateChanged() ? this.hardStateToPersist() : null;
    const committedEntries = this.log.takeCommitted(this.applyLimit());
    const ready: Ready<RaftMessage, RaftHardState> = {
      hardState,
      entries,
      snapshot,
      messages: this.messages,
      messagesBeforePersist: this.messagesBeforePersist,
      committedEntries,
      readStates: this.readStates,
      droppedReads: this.droppedReads,
    };
    if (hardState !== null) this.persistedHardState = hardState;
    this.messages = [];
    this.messagesBeforePersist = [];
    this.readStates = [];
    this.droppedReads = [];
    return ready;
  }

  advance(ready: Ready<RaftMessage, RaftHardState>): void {
    const last = ready.entries[ready.entries.length - 1];
    if (ready.snapshot !== null) this.log.persistedTo(ready.snapshot.meta.index, ready.snapshot.meta.term);
    if (last !== undefined) this.log.persistedTo(last.index, last.term);
    if (this.role === "leader") this.leaderPersisted();
    if (ready.snapshot !== null) this.log.appliedTo(ready.snapshot.meta.index);
    const applied = ready.committedEntries[ready.committedEntries.length - 1];
    if (applied !== undefined) this.log.appliedTo(applied.index);
  }

  private applyLimit(): number {
    return this.faults.applyBeforeCommit === true ? this.log.lastIndex() : this.log.committed;
  }

  private hardStateToPersist(): RaftHardState {
    // Planted fault: a vote for another node is not written down.
    const vote = this.faults.forgetVotePersist === true && this.vote !== this.config.id ? noNode : this.vote;
    return { term: this.term, vote, commit: this.log.committed };
  }

  private hardStateChanged(): boolean {
    const next = this.hardStateToPersist();
    const prev = this.persistedHardState;
    return next.term !== prev.term || next.vote !== prev.vote || next.commit !== prev.commit;
  }

  status(): EngineStatus {
    return {
      id: this.config.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      membership: this.membership,
    };
  }

  followerProgress(): ReadonlyMap<NodeId, FollowerProgress> {
    const out = new Map<NodeId, FollowerProgress>();
    if (this.role !== "leader") return out;
    for (const [id, pr] of this.progress) if (id !== this.config.id) out.set(id, { match: pr.match });
    return out;
  }

  entryAt(index: LogIndex): Entry | undefined {
    return this.log.entryAt(index);
  }

  latestSnapshot(): Snapshot | null {
    return this.log.snapshot;
  }

  // ---------------------------------------------------------------- step

  step(msg: RaftMessage): void {
    if (msg.groupId !== this.config.groupId || msg.to !== this.config.id) return;
    if (msg.term > this.term) {
      if (!this.stepHigherTerm(msg)) return;
    } else if (msg.term < this.term) {
      this.stepLowerTerm(msg);
      return;
    }
    switch (msg.type) {
      case "vote":
        this.handleVote(msg);
        return;
      case "voteResponse":
        this.handleVoteResponse(msg);
        return;
      case "append":
        this.handleAppend(msg);
        return;
      case "appendResponse":
        this.handleAppendResponse(msg);
        return;
      case "heartbeat":
        this.handleHeartbeat(msg);
        return;
      case "heartbeatResponse":
        this.handleHeartbeatResponse(msg);
        return;
      case "snapshot":
        this.handleSnapshot(msg);
        return;
      case "timeoutNow":
        this.handleTimeoutNow();
        return;
      case "readIndex":
        this.handleReadIndex(msg);
        return;
      case "readIndexResponse":
        this.handleReadIndexResponse(msg);
        return;
      default:
        assertNever(msg);
    }
  }

  /** stepHigherTerm handles a message from a later term; returns whether to keep processing it. */
  private stepHigherTerm(msg: RaftMessage): boolean {
    if (msg.type === "vote") {
      // Leader lease (CheckQuorum): while a leader is heard from, ignore campaigns,
      // unless the leader itself asked for this one (leadership transfer).
      const inLease =
        this.config.checkQuorum &&
        this.leader !== noNode &&
        this.electionElapsedTicks < this.config.electionTimeoutTicks &&
        !msg.transfer;
      if (inLease) return false;
      // A pre-vote does not move our term; the response carries the asked term.
      if (msg.preVote) return true;
      this.becomeFollower(msg.term, noNode);
      return true;
    }
    if (msg.type === "voteResponse" && msg.preVote && msg.granted) return true;
    const leaderMessage = msg.type === "append" || msg.type === "heartbeat" || msg.type === "snapshot";
    this.becomeFollower(msg.term, leaderMessage ? msg.from : noNode);
    return true;
  }

  /**
   * stepLowerTerm answers a request from an earlier term with a rejection that
   * carries our term (§5.1), so a stale leader or candidate learns it is stale:
   * otherwise nodes stuck at different terms may never converge.
   */
  private stepLowerTerm(msg: RaftMessage): void {
    if (msg.type === "append" || msg.type === "heartbeat" || msg.type === "snapshot") {
      this.send({ type: "appendResponse", to: msg.from, reject: true, index: 0 as LogIndex, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
    } else if (msg.type === "vote") {
      this.send({ type: "voteResponse", to: msg.from, preVote: msg.preVote, granted: false });
    }
  }

  // ---------------------------------------------------------------- elections

  /**
   * promotable: a node campaigns if it votes in its latest configuration, or in
   * the committed one while a newer configuration that drops it is not yet
   * committed: the committed configuration may still need it to elect anyone
   * (thesis §4.2.2). Elected that way, it commits the change and steps down.
   */
  private promotable(): boolean {
    return isVoter(this.membership, this.config.id) || isVoter(this.membershipAt(this.log.committed), this.config.id);
  }

  private campaign(options: { preVote: boolean; transfer: boolean }): void {
    if (options.preVote) this.becomePreCandidate();
    else this.becomeCandidate();
    const preVote = this.role === "preCandidate";
    const askedTerm = (preVote ? this.term + 1 : this.term) as Term;
    this.votes = new Map([[this.config.id, true]]);
    if (this.tallyVotes(preVote)) return;
    for (const id of this.voters()) {
      if (id === this.config.id) continue;
      this.messages.push({
        type: "vote",
        groupId: this.config.groupId,
        from: this.config.id,
        to: id,
        term: askedTerm,
        preVote,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        transfer: options.transfer,
      });
    }
  }

  /** tallyVotes acts on the votes so far; returns whether the campaign ended. */
  private tallyVotes(preVote: boolean): boolean {
    const outcome = jointVote(this.membership, this.votes, this.quorumRules);
    if (outcome === "won") {
      if (preVote) this.campaign({ preVote: false, transfer: false });
      else this.becomeLeader();
      return true;
    }
    if (outcome === "lost") {
      this.becomeFollower(this.term, noNode);
      return true;
    }
    return false;
  }

  private handleVote(msg: VoteRequest): void {
    const canVote =
      this.vote === msg.from ||
      (this.vote === noNode && this.leader === noNode) ||
      (msg.preVote && msg.term > this.term);
    const granted = canVote && this.log.isUpToDate(msg.lastLogIndex, msg.lastLogTerm);
    if (granted && !msg.preVote) {
      this.electionElapsedTicks = 0;
      this.vote = msg.from;
    }
    // A granted pre-vote answers in the asked term, so the asker can count it.
    const responseTerm = granted && msg.preVote ? msg.term : this.term;
    this.messages.push({
      type: "voteResponse",
      groupId: this.config.groupId,
      from: this.config.id,
      to: msg.from,
      term: responseTerm,
      preVote: msg.preVote,
      granted,
    });
  }

  private handleVoteResponse(msg: VoteResponse): void {
    const expected = msg.preVote ? "preCandidate" : "candidate";
    if (this.role !== expected) return;
    this.votes.set(msg.from, msg.granted);
    this.tallyVotes(msg.preVote);
  }

  private handleTimeoutNow(): void {
    if (this.promotable() && this.role !== "leader") this.campaign({ preVote: false, transfer: true });
  }

  private becomeFollower(term: Term, leader: NodeId): void {
    const wasLeader = this.role === "leader";
    if (term !== this.term) {
      this.term = term;
      this.vote = noNode;
    }
    this.role = "follower";
    this.leader = leader;
    this.resetTimers();
    this.leadTransferee = noNode;
    if (wasLeader) this.dropLeaderReads();
    this.progress.clear();
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader does not pre-campaign");
    // Term and vote stay: a pre-candidate has promised nothing yet.
    this.role = "preCandidate";
    this.leader = noNode;
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not campaign");
    this.term = (this.term + 1) as Term;
    this.vote = this.config.id;
    this.role = "candidate";
    this.leader = noNode;
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", "only a candidate becomes leader");
    this.role = "leader";
    this.leader = this.config.id;
    this.resetTimers();
    this.progress.clear();
    for (const id of allMembers(this.membership)) this.addProgress(id);
    // Any change still in the log may be uncommitted: wait for it before the next.
    this.pendingConfIndex = this.log.lastIndex();
    this.uncommittedBytes = this.log.uncommittedBytes();
    // The no-op of the new term: committing it commits everything before it (§5.4.2).
    this.appendEntries([{ index: (this.log.lastIndex() + 1) as LogIndex, term: this.term, type: "normal", data: new Uint8Array(0) }]);
  }

  private resetTimers(): void {
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.resetRandomizedElectionTimeout();
  }

  private resetRandomizedElectionTimeout(): void {
    const base = this.config.electionTimeoutTicks;
    this.randomizedElectionTimeoutTicks = base + this.config.random.nextInt(base);
  }

  // ---------------------------------------------------------------- replication (leader)

  private addProgress(id: NodeId): void {
    if (this.progress.has(id)) return;
    const pr = new Progress((this.log.lastIndex() + 1) as LogIndex, this.config);
    if (id === this.config.id) {
      // Only what is durable here counts toward commitment.
      pr.match = this.log.persisted();
      pr.recentActive = true;
    }
    this.progress.set(id, pr);
  }

  /** appendEntries adds entries to the leader's log and replicates them. */
  private appendEntries(entries: Entry[]): void {
    this.log.append(entries);
    for (const entry of entries) {
      this.uncommittedBytes += entryBytes(entry);
      if (entry.type === "config") {
        this.pendingConfIndex = entry.index;
        this.recordConfigEntry(entry);
      }
    }
    // The leader's own copy counts toward commitment once durable (advance).
    // Replication waits for the next ready(): every proposal of this turn then
    // travels in one append per follower instead of one append each.
    this.appendPending = true;
  }

  /** leaderPersisted counts the leader's own durable log toward commitment. */
  private leaderPersisted(): void {
    const self = this.progress.get(this.config.id);
    if (self === undefined || !self.maybeUpdate(this.log.persisted())) return;
    // Followers learn a commit index that moved through the next append.
    if (this.maybeCommit()) this.appendPending = true;
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.config.id) this.sendAppend(id);
  }

  private broadcastHeartbeat(readContext: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.config.id) continue;
      // Never tell a follower a commit index beyond what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed) as LogIndex;
      this.send({ type: "heartbeat", to: id, commit, readContext });
    }
  }

  /** sendAppend sends the next entries (or a snapshot) to `to`, unless flow control holds it. */
  private sendAppend(to: NodeId): void {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return;
    const prevLogIndex = (pr.next - 1) as LogIndex;
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) {
      if (prevLogIndex < this.log.firstIndex()) this.sendSnapshot(to, pr);
      else pr.next = (this.log.lastIndex() + 1) as LogIndex; // acknowledged beyond our log: only under planted faults
      return;
    }
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, {
      entriesMax: this.config.appendEntriesMax,
      bytesMax: this.config.appendBytesMax,
    });
    const commit = this.log.committed;
    this.send({ type: "append", to, prevLogIndex, prevLogTerm, entries, commit });
    const last = entries[entries.length - 1];
    if (pr.state === "replicate") {
      if (last !== undefined) {
        pr.next = (last.index + 1) as LogIndex;
        pr.inflights.add(last.index, entries.reduce((n, e) => n + entryBytes(e), 0));
      }
    } else if (pr.state === "probe") {
      pr.probeSent = true;
    }
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snapshot = this.log.snapshot;
    assert(snapshot !== null, "a compacted log has a snapshot");
    pr.becomeSnapshot(snapshot.meta.index);
    this.send({ type: "snapshot", to, snapshot });
  }

  private handleAppendResponse(msg: AppendResponse): void {
    if (this.role !== "leader") return;
    const pr = this.progress.get(msg.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (msg.reject) {
      this.handleAppendRejection(msg, pr);
      return;
    }
    if (!pr.maybeUpdate(msg.index)) return;
    switch (pr.state) {
      case "probe":
        pr.becomeReplicate();
        break;
      case "snapshot":
        if (pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        break;
      case "replicate":
        pr.inflights.freeLE(msg.index);
        break;
    }
    if (this.maybeCommit()) this.broadcastAppend();
    // Keep the pipeline full.
    while (!pr.isPaused() && pr.next <= this.log.lastIndex()) {
      const before = pr.next;
      this.sendAppend(msg.from);
      if (pr.next === before) break;
    }
    if (msg.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: "timeoutNow", to: msg.from });
    }
  }

  private handleAppendRejection(msg: AppendResponse, pr: Progress): void {
    if (msg.index === 0 && msg.hintIndex === 0 && msg.hintTerm === 0) return; // stale-term notice, handled by term
    let next = msg.hintIndex as number;
    // Skip every entry of ours whose term exceeds the follower's at the hint (§5.3 optimisation).
    if (msg.hintTerm > 0) next = this.log.conflictHint(msg.hintIndex, msg.hintTerm).index;
    if (pr.maybeDecreaseTo(msg.index, next)) {
      if (pr.state === "replicate") pr.becomeProbe();
      this.sendAppend(msg.from);
    }
  }

  /** maybeCommit advances the commit index by counting replicas; only for entries of this term (§5.4.2). */
  private maybeCommit(): boolean {
    if (this.role !== "leader") return false;
    const index = jointCommittedIndex(this.membership, (id) => this.progress.get(id)?.match ?? 0, this.quorumRules);
    if (index <= this.log.committed) return false;
    if (this.log.termAt(index) !== this.term && this.faults.commitOldTermByCounting !== true) return false;
    const before = this.log.committed;
    this.log.commitTo(index);
    this.afterCommit(before);
    return true;
  }

  private afterCommit(before: number): void {
    for (let i = before + 1; i <= this.log.committed; i++) {
      const entry = this.log.entryAt(i);
      if (entry !== undefined) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entryBytes(entry));
    }
    if (this.role !== "leader") return;
    if (this.log.termAt(this.log.committed) === this.term) this.releaseReadsAwaitingCommit();
    // Once the joint configuration is committed, move on to the new one.
    if (isJoint(this.membership) && this.pendingConfIndex <= this.log.committed) {
      this.appendEntries([{ index: (this.log.lastIndex() + 1) as LogIndex, term: this.term, type: "config", change: { ops: [] } }]);
      return;
    }
    // A leader that is not a voter of the committed configuration hands over.
    if (!isVoter(this.membership, this.config.id) && this.pendingConfIndex <= this.log.committed) {
      this.becomeFollower(this.term, noNode);
    }
  }

  private quorumActive(): boolean {
    const active = new Set<NodeId>();
    for (const [id, pr] of this.progress) if (pr.recentActive || id === this.config.id) active.add(id);
    return jointHasQuorum(this.membership, active, this.quorumRules);
  }

  // ---------------------------------------------------------------- replication (follower)

  private handleAppend(msg: AppendRequest): void {
    if (this.role !== "follower") this.becomeFollower(this.term, msg.from);
    this.leader = msg.from;
    this.electionElapsedTicks = 0;
    if (msg.prevLogIndex < this.log.committed) {
      this.send({ type: "appendResponse", to: msg.from, reject: false, index: this.log.committed, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
      return;
    }
    const matches = this.log.matchTerm(msg.prevLogIndex, msg.prevLogTerm);
    const plantedAccept = this.faults.acceptMismatchedAppend === true && msg.prevLogIndex <= this.log.lastIndex();
    if (matches || plantedAccept) {
      this.storeEntries(msg.entries, plantedAccept && !matches ? msg.prevLogIndex : undefined);
      const lastNew = msg.prevLogIndex + msg.entries.length;
      this.commitTo(Math.min(msg.commit, lastNew));
      this.send({ type: "appendResponse", to: msg.from, reject: false, index: lastNew as LogIndex, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
      return;
    }
    const hint = this.log.conflictHint(Math.min(msg.prevLogIndex, this.log.lastIndex()), msg.prevLogTerm);
    this.send({ type: "appendResponse", to: msg.from, reject: true, index: msg.prevLogIndex, hintIndex: hint.index, hintTerm: hint.term });
  }

  private storeEntries(entries: readonly Entry[], plantedCutAfter: LogIndex | undefined): void {
    if (plantedCutAfter !== undefined && entries.length > 0) {
      // Planted fault: keep our mismatching prefix and glue the leader's entries after it.
      const glued = entries.map((e, i) => ({ ...e, index: (plantedCutAfter + 1 + i) as LogIndex }));
      this.rewriteLogFrom(glued);
      return;
    }
    const cutAt = this.log.truncateAndAppend(entries);
    if (cutAt !== undefined) {
      // A truncated config entry takes its configuration with it.
      this.configEntries = this.configEntries.filter((c) => c.index < cutAt);
      this.membership = this.configEntries[this.configEntries.length - 1]?.membership ?? this.log.snapshotBoundary().membership;
    }
    for (const entry of entries) {
      if (entry.type === "config" && entry.index > (this.configEntries[this.configEntries.length - 1]?.index ?? 0)) {
        this.recordConfigEntry(entry);
      }
    }
  }

  private rewriteLogFrom(entries: Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    for (const entry of entries) {
      const existing = this.log.termAt(entry.index);
      if (existing !== undefined && existing !== entry.term && entry.index <= this.log.committed) return;
    }
    this.log.truncateAndAppend(entries);
  }

  private commitTo(index: number): void {
    const bounded = Math.min(index, this.log.lastIndex());
    const before = this.log.committed;
    if (this.log.commitTo(bounded)) this.afterCommit(before);
  }

  private handleHeartbeat(msg: HeartbeatRequest): void {
    if (this.role !== "follower") this.becomeFollower(this.term, msg.from);
    this.leader = msg.from;
    this.electionElapsedTicks = 0;
    this.commitTo(msg.commit);
    this.send({ type: "heartbeatResponse", to: msg.from, readContext: msg.readContext });
  }

  private handleHeartbeatResponse(msg: HeartbeatResponse): void {
    if (this.role !== "leader") return;
    const pr = this.progress.get(msg.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // Appends in the window may have been lost: open one slot so the next
    // append goes out; a gap makes the follower reject it and we probe back.
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex()) this.sendAppend(msg.from);
    if (msg.readContext !== 0) this.ackRead(msg.readContext, msg.from);
  }

  private handleSnapshot(msg: SnapshotRequest): void {
    if (this.role !== "follower") this.becomeFollower(this.term, msg.from);
    this.leader = msg.from;
    this.electionElapsedTicks = 0;
    const meta = msg.snapshot.meta;
    if (meta.index <= this.log.committed) {
      this.send({ type: "appendResponse", to: msg.from, reject: false, index: this.log.committed, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We hold that prefix already: just learn that it is committed.
      this.commitTo(meta.index);
    } else {
      this.log.restore(msg.snapshot);
      this.configEntries = [];
      this.membership = meta.membership;
    }
    this.send({ type: "appendResponse", to: msg.from, reject: false, index: this.log.committed, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
  }

  // ---------------------------------------------------------------- ReadIndex

  private leaderReadIndex(requestId: number, origin: NodeId): void {
    if (this.log.termAt(this.log.committed) !== this.term) {
      // Until an entry of this term commits, our commit index may lag the true one (§6.4).
      this.readsAwaitingCommit.push({ requestId, origin });
      return;
    }
    const index = this.log.committed;
    if (jointHasQuorum(this.membership, new Set([this.config.id]), this.quorumRules)) {
      this.releaseRead({ context: 0, requestId, index, origin, acks: new Set() });
      return;
    }
    const context = this.readContextNext++;
    this.pendingReads.push({ context, requestId, index, origin, acks: new Set([this.config.id]) });
    this.broadcastHeartbeat(context);
  }

  private releaseReadsAwaitingCommit(): void {
    const waiting = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const read of waiting) this.leaderReadIndex(read.requestId, read.origin);
  }

  private ackRead(context: number, from: NodeId): void {
    const at = this.pendingReads.findIndex((r) => r.context === context);
    const read = this.pendingReads[at];
    if (read === undefined) return;
    read.acks.add(from);
    if (!jointHasQuorum(this.membership, read.acks, this.quorumRules)) return;
    // Leadership confirmed at this round: every earlier read is safe too.
    const released = this.pendingReads.splice(0, at + 1);
    for (const r of released) this.releaseRead(r);
  }

  private releaseRead(read: PendingRead): void {
    if (read.origin === this.config.id) {
      this.readStates.push({ requestId: read.requestId, index: read.index });
    } else {
      this.send({ type: "readIndexResponse", to: read.origin, requestId: read.requestId, index: read.index, rejected: false });
    }
  }

  private dropLeaderReads(): void {
    const all = [...this.pendingReads.map((r) => ({ requestId: r.requestId, origin: r.origin })), ...this.readsAwaitingCommit];
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
    for (const read of all) {
      if (read.origin === this.config.id) this.droppedReads.push(read.requestId);
      else this.send({ type: "readIndexResponse", to: read.origin, requestId: read.requestId, index: 0 as LogIndex, rejected: true });
    }
  }

  private handleReadIndex(msg: ReadIndexRequest): void {
    if (this.role !== "leader" || this.pendingReads.length + this.readsAwaitingCommit.length >= this.config.readsPendingMax) {
      this.send({ type: "readIndexResponse", to: msg.from, requestId: msg.requestId, index: 0 as LogIndex, rejected: true });
      return;
    }
    this.leaderReadIndex(msg.requestId, msg.from);
  }

  private handleReadIndexResponse(msg: ReadIndexResponse): void {
    if (msg.rejected) this.droppedReads.push(msg.requestId);
    else this.readStates.push({ requestId: msg.requestId, index: msg.index });
  }

  // ---------------------------------------------------------------- membership

  private recordConfigEntry(entry: Extract<Entry, { type: "config" }>): void {
    const result = applyConfChange(this.membership, entry.change);
    // A change that was valid when proposed stays valid in log order.
    assert(result.ok, `config entry ${entry.index} applies: ${result.ok ? "" : result.error}`);
    this.membership = result.membership;
    this.configEntries.push({ index: entry.index, membership: result.membership });
    if (this.role === "leader") {
      for (const id of allMembers(this.membership)) this.addProgress(id);
      for (const id of [...this.progress.keys()]) if (!isMember(this.membership, id) && id !== this.config.id) this.progress.delete(id);
    }
  }

  private membershipAt(index: number): Membership {
    let result = this.log.snapshotBoundary().membership;
    for (const c of this.configEntries) if (c.index <= index) result = c.membership;
    return result;
  }

  private voters(): NodeId[] {
    return [...new Set([...this.membership.voters, ...this.membership.votersOutgoing])];
  }

  // ---------------------------------------------------------------- sending

  private send(body: Outgoing): void {
    const message: RaftMessage = { ...body, groupId: this.config.groupId, from: this.config.id, term: this.term };
    // A leader's term and vote are durable before it is elected (its vote
    // requests left after persisting them), and its replication traffic
    // acknowledges nothing: it may leave before this Ready is persisted.
    const replication = body.type === "append" || body.type === "heartbeat" || body.type === "snapshot" || body.type === "timeoutNow";
    if (this.role === "leader" && replication) this.messagesBeforePersist.push(message);
    else this.messages.push(message);
  }
}

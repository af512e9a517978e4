import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { SeededRandom } from "../consensus/random.js";
import { groupId, nodeId, noNode } from "../consensus/types.js";
import type { GroupId, Membership, NodeId } from "../consensus/types.js";
import { requestSizeBytes } from "../kv/index.js";
import type { KvError } from "../kv/index.js";
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKvResponse,
  KvRequest,
  KvResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../kv/index.js";
import { ReplicaError } from "../replica/errors.js";
import { Replica } from "../replica/replica.js";
import { envFileName, Storage } from "../storage/storage.js";
import type { GroupStorage } from "../storage/group-storage.js";
import { TcpTransport } from "../transport/tcp-transport.js";
import type { HostPort, ServerConfig } from "./config.js";
import { clusterIdOf, memberIdOf, parseUrl } from "./config.js";
import { createEngine, engineKindOf } from "./engines.js";
import type { AnyEngine, ConsensusMessage, EngineKind } from "./engines.js";
import { encodeCommand, KvStateMachine, NoSpaceError, writesData } from "./kv-state-machine.js";
import type { AlarmType, KvCommand } from "./kv-state-machine.js";
import type { LeaseResponse } from "../kv/index.js";
import type { WatchSink, WatchStream } from "../kv/watch-hub.js";
import { peerMessageValidator } from "./peer-messages.js";
import type { BackupStream } from "./backup-stream.js";
import { isMember } from "../consensus/membership.js";
import type { MemberRecord, MemberRecords } from "./kv-state-machine.js";
import { listMembers, nodeIdOfMember, recordOf } from "./membership-table.js";
import type { Member, MemberView } from "./membership-table.js";
import { MemberAdmin } from "./member-admin.js";
import { memberIdentityOf } from "./identity.js";
import type { MemberAnswer, MemberRequest } from "./member-admin.js";
import type { PeerMessage } from "./peer-messages.js";
import { ServerMetrics } from "./metrics.js";
import { defaultSnapshotTransferLimits, isSnapshotTransferMessage, SnapshotTransfer } from "./snapshot-transfer.js";

/** The single group that holds the whole keyspace until sharding arrives. */
export const mainGroup: GroupId = groupId(1);

export type { Member } from "./membership-table.js";

/** StatusInfo is what Maintenance.Status reports. */
export interface StatusInfo {
  readonly version: string;
  readonly dbSizeBytes: number;
  readonly dbSizeInUseBytes: number;
  readonly leader: bigint;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly isLearner: boolean;
}

export const synodVersion = "3.4.0";

/**
 * SynodServer is one member: storage, the consensus replica of the main group,
 * peer transport, and the KV operations the client API calls. Every member
 * accepts requests: writes are proposed by the leader (followers forward them)
 * and waited on by request id until this member applies them; linearizable
 * reads wait for a ReadIndex barrier, serializable reads read local state.
 */
export class SynodServer {
  readonly self: Member;
  /** initialRecords are the members this process knows from its flags (all initial members, or itself when joining). */
  private readonly initialRecords: readonly MemberRecord[];
  private readonly configClusterId: bigint;
  private readonly memberAdmin: MemberAdmin;
  /** lastHeardMs: when a message last arrived from each peer, for the leader's count of active voters. */
  private readonly lastHeardMs = new Map<NodeId, number>();
  /** memberQueries: forwarded member changes awaiting the leader's answer (null: this member stopped). */
  private readonly memberQueries = new Map<string, (body: Uint8Array | null) => void>();
  private syncedRecords: MemberRecords | undefined;
  private memberTimer: NodeJS.Timeout | undefined;
  private removedResolve: ((reason: string) => void) | undefined;
  /** removed resolves, with a line to log, once this member applied its own removal and stopped. */
  readonly removed = new Promise<string>((resolve) => (this.removedResolve = resolve));
  private removing = false;
  readonly metrics = new ServerMetrics();
  private readonly storage: Storage;
  private readonly groupStorage: GroupStorage<unknown>;
  readonly engineKind: EngineKind;
  private readonly stateMachine: KvStateMachine;
  private readonly engine: AnyEngine;
  private readonly replica: Replica<ConsensusMessage, unknown>;
  private readonly transport: TcpTransport<PeerMessage>;
  private readonly snapshotTransfer: SnapshotTransfer;
  private readonly requestNonce = randomBytes(6).toString("hex");
  private requestSeq = 0;
  private readonly forwarded = new Map<string, (reason: string) => void>();
  private stopped = false;
  private knownLeader: NodeId = noNode;
  private leaseTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private compactionTimer: NodeJS.Timeout | undefined;
  /** (time, revision) samples, oldest first, for periodic compaction. */
  private revisionSamples: { atMs: number; revision: number }[] = [];
  private lastCompactionMs = 0;
  private leading = false;
  private lastProgressMs = 0;
  private readonly leaseQueries = new Map<string, (answer: LeaseAnswer) => void>();
  /** When the last plain heartbeat to each peer left, for round-trip times. */
  private readonly heartbeatSentAt = new Map<NodeId, number>();
  /** backupsInFlight counts the backups streaming now, each pinning one read transaction. */
  private backupsInFlight = 0;

  private constructor(readonly config: ServerConfig) {
    const { self, initial } = initialMembersOf(config);
    this.self = self;
    this.initialRecords = initial;
    this.configClusterId = clusterIdOf(config.initialCluster.map((m) => memberIdOf(m.peerUrls, config.initialClusterToken)));
    this.storage = Storage.open({ dataDir: config.dataDir });
    try {
      this.groupStorage = this.storage.group<unknown>(mainGroup);
      this.engineKind = engineKindOf(config.dataDir, config.consensus, (line) => process.stderr.write(`synod: ${line}\n`));
      this.stateMachine = new KvStateMachine(this.storage, { requestBytesMax: config.requestBytesMax, txnOpsMax: config.txnOpsMax });
      const stored = this.groupStorage.load();
      const bootstrap: Membership =
        config.initialClusterState === "new"
          ? { voters: this.initialRecords.map((m) => m.nodeId as NodeId), votersOutgoing: [], learners: [] }
          : { voters: [], votersOutgoing: [], learners: [] };
      this.engine = createEngine(
        this.engineKind,
        { id: self.nodeId, groupId: mainGroup, electionTimeoutTicks: config.electionTimeoutTicks, random: new SeededRandom(randomBytes(4).readUInt32LE(0)) },
        stored,
        bootstrap,
      );
      const listen = config.listenPeerUrls[0];
      if (listen === undefined) throw new Error("--listen-peer-urls is empty");
      this.transport = new TcpTransport<PeerMessage>({
        self: self.nodeId,
        listen,
        clusterToken: config.initialClusterToken,
        peers: this.initialRecords.filter((m) => m.nodeId !== self.nodeId).map((m) => [m.nodeId as NodeId, peerAddressOf(m)] as const),
        validate: peerMessageValidator(this.engineKind),
        advertise: peerAddressOf(self),
        // A removed member is not heard once the engine dropped it; any other dialer with the token may be a member this one has not learned of yet.
        admit: (id) => !this.removedNodeIds().has(id) || isMember(this.engine.status().membership, id),
      });
      this.snapshotTransfer = this.createSnapshotTransfer();
      this.replica = new Replica(
        this.engine,
        this.groupStorage,
        { send: (m) => this.sendPeer(m) },
        this.stateMachine,
        { tickMs: config.tickMs, snapshotEntries: config.snapshotEntries },
        {
          persisted: (ms) => this.metrics.commitDuration.observe(ms / 1000),
          afterApply: (applied) => {
            this.metrics.proposalsApplied.set(applied);
            this.afterMembersApplied();
          },
          afterReady: () => this.observeEngine(),
          compactionHeld: () => this.snapshotTransfer.serving(),
        },
      );
      // A defragment releases the snapshot's pinned view: take the snapshot again.
      this.storage.onDefragmented(() => {
        this.replica.retakeSnapshot();
        this.replica.kick();
      });
      this.memberAdmin = new MemberAdmin({
        self: self.nodeId,
        tickMs: config.tickMs,
        requestTimeoutMs: config.requestTimeoutMs,
        status: () => this.engine.status(),
        followerProgress: () => this.engine.followerProgress(),
        proposeConfChange: (ops) => {
          const result = this.replica.consensus.proposeConfChange({ ops });
          this.replica.kick();
          return result.ok ? { ok: true, index: result.index } : { ok: false, reason: result.reason };
        },
        transferLeadership: (to) => {
          const started = this.replica.consensus.transferLeadership(to);
          this.replica.kick();
          return started.ok;
        },
        view: () => this.memberView(),
        active: () => this.activeMembers(),
        replicate: async (members) => {
          await this.replicate((id) => ({ id, members }));
        },
        forward: (leader, body, deadline) => this.forwardMemberRequest(leader, body, deadline),
        waitForLeader: (deadline) => this.waitForLeader(deadline),
        stopped: () => this.stopped,
      });
    } catch (error) {
      void this.storage.close();
      throw error;
    }
  }

  /** clusterId is the id recorded when the cluster was created (a joining member knows it once it applied the records). */
  get clusterId(): bigint {
    const recorded = this.stateMachine.memberRecords().clusterId;
    return recorded === undefined ? this.configClusterId : BigInt(recorded);
  }

  /** open claims the data dir and builds the member; `start` then begins serving. */
  static open(config: ServerConfig): SynodServer {
    return new SynodServer(config);
  }

  async start(): Promise<void> {
    if (this.groupStorage.load().bootstrap === null && this.config.initialClusterState === "new") {
      await this.groupStorage.saveBootstrap({ voters: this.initialRecords.map((m) => m.nodeId as NodeId), votersOutgoing: [], learners: [] });
    }
    this.transport.onMessage((m) => this.receive(m));
    await this.transport.start();
    this.replica.start();
    this.snapshotTransfer.start();
    void this.publish();
    this.leaseTimer = setInterval(() => this.leaseDuties(), leaseDutyIntervalMs);
    this.watchTimer = setInterval(() => this.watchDuties(), watchPumpIntervalMs);
    this.memberTimer = setInterval(() => this.memberDuties(), memberDutyIntervalMs);
    this.afterMembersApplied();
    if (this.config.autoCompaction.mode !== "none") this.compactionTimer = setInterval(() => this.compactionDuties(), compactionCheckIntervalMs);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearInterval(this.watchTimer);
    clearInterval(this.compactionTimer);
    clearInterval(this.memberTimer);
    this.replica.stop();
    this.snapshotTransfer.stop();
    for (const answer of this.leaseQueries.values()) answer({ found: false, ttlMs: 0, leader: false });
    this.leaseQueries.clear();
    for (const answer of this.memberQueries.values()) answer(null);
    this.memberQueries.clear();
    for (const reject of this.forwarded.values()) reject("stopped");
    this.forwarded.clear();
    await this.transport.stop();
    this.stateMachine.snapshots.release();
    await this.storage.close();
  }

  /** fatalError is set when the replica stopped itself (storage failure, broken invariant). */
  fatalError(): Error | undefined {
    return this.replica.error();
  }

  /** createSnapshotTransfer wires chunked snapshot transfer to the tables, the transport, the replica and the metrics. */
  private createSnapshotTransfer(): SnapshotTransfer {
    const metrics = this.metrics;
    return new SnapshotTransfer(
      {
        self: this.self.nodeId,
        groupId: mainGroup,
        chunkBytesMax: this.config.snapshotChunkBytes ?? defaultSnapshotTransferLimits.chunkBytesMax,
        pullTimeoutMs: defaultSnapshotTransferLimits.pullTimeoutMs,
      },
      {
        tables: this.stateMachine.snapshots,
        send: (m) => this.transport.send(m),
        deliver: (m) => this.replica.receive(m),
        latestSnapshot: () => this.engine.latestSnapshot(),
        appliedIndex: () => this.stateMachine.appliedIndex(),
        log: (line) => process.stderr.write(`synod: ${line}\n`),
        bytesSent: (bytes) => metrics.snapshotBytesSent.inc(bytes),
        bytesReceived: (bytes) => metrics.snapshotBytesReceived.inc(bytes),
        resumed: () => metrics.snapshotTransfersResumed.inc(),
      },
    );
  }

  private sendPeer(message: ConsensusMessage): void {
    if (message.type === "heartbeat" && message.readContext === 0) this.heartbeatSentAt.set(message.to, performance.now());
    this.transport.send(message);
  }

  private observeEngine(): void {
    const s = this.engine.status();
    this.metrics.proposalsCommitted.set(s.commitIndex);
    this.metrics.hasLeader.set(s.leader === noNode ? 0 : 1);
    this.metrics.isLeader.set(s.role === "leader" ? 1 : 0);
    if (s.leader !== noNode && s.leader !== this.knownLeader) this.metrics.leaderChanges.inc();
    if (s.leader !== noNode) this.knownLeader = s.leader;
  }

  // ---------------------------------------------------------------- KV

  async range(request: RangeRequest): Promise<RangeResponse> {
    this.checkRequest({ range: request });
    if (!request.serializable) await this.readBarrier(Date.now() + this.config.requestTimeoutMs);
    return unwrap(this.stateMachine.mvcc.range(request));
  }

  /** readBarrier waits until a linearizable read may be served, riding out leader elections until the deadline. */
  private async readBarrier(deadline: number): Promise<void> {
    for (;;) {
      await this.waitForLeader(deadline);
      try {
        await this.until(deadline, this.replica.linearizableBarrier());
        return;
      } catch (error) {
        if (!isRetryable(error) || Date.now() >= deadline) throw error;
        await sleep(this.config.tickMs);
      }
    }
  }

  async put(request: PutRequest): Promise<PutResponse> {
    const response = await this.write({ put: request });
    if (!("put" in response)) throw new Error("put answered with another response");
    return response.put;
  }

  async deleteRange(request: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    const response = await this.write({ deleteRange: request });
    if (!("deleteRange" in response)) throw new Error("deleteRange answered with another response");
    return response.deleteRange;
  }

  async txn(request: TxnRequest): Promise<TxnResponse> {
    const response = await this.write({ txn: request });
    if (!("txn" in response)) throw new Error("txn answered with another response");
    return response.txn;
  }

  async compact(request: CompactionRequest): Promise<CompactionResponse> {
    const response = await this.write({ compaction: request });
    if (!("compaction" in response)) throw new Error("compact answered with another response");
    return response.compaction;
  }

  async hashKv(revision: number): Promise<HashKvResponse> {
    return Promise.resolve(unwrap(this.stateMachine.mvcc.hashKv(revision)));
  }

  /**
   * openBackup starts a consistent backup of this member's applied state
   * (Maintenance.Snapshot): the state machine table as last committed, read
   * in one transaction. At most backupsInFlightMax run at once; another one
   * is refused as "too many requests" rather than pin more old pages.
   */
  async openBackup(): Promise<BackupStream> {
    if (this.stopped) throw new ReplicaError("stopped", "etcdserver: server stopped");
    if (this.backupsInFlight >= backupsInFlightMax) throw new ReplicaError("overloaded", "etcdserver: too many requests");
    this.backupsInFlight++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.backupsInFlight--;
    };
    try {
      return await this.stateMachine.openBackup({ engine: this.engineKind, takenAtMs: Date.now(), onClose: release });
    } catch (error) {
      release();
      throw error;
    }
  }

  /** defragment shrinks this member's data file to what its data needs (Storage.defragment). */
  async defragment(): Promise<void> {
    if (this.stopped) throw new ReplicaError("stopped", "etcdserver: server stopped");
    await this.storage.defragment();
  }

  /** memberList is the members with the client URLs each one published (empty until it has). */
  memberList(): Member[] {
    return listMembers(this.memberView()).map((m) => (m.nodeId === this.self.nodeId && m.name === "" ? { ...m, name: this.self.name, clientUrls: this.self.clientUrls } : m));
  }

  /** memberView is what the member table is computed from, as this member has applied it. */
  private memberView(): MemberView {
    return { membership: this.engine.status().membership, records: this.stateMachine.memberRecords(), initial: this.initialRecords, published: this.stateMachine.publishedMembers() };
  }

  /** memberOf finds a member of the latest membership by etcd id. */
  private memberOf(id: bigint): Member | undefined {
    return this.memberList().find((m) => m.id === id);
  }

  /**
   * memberChange carries out MemberAdd, MemberPromote, MemberRemove or
   * MemberUpdate (see member-admin.ts); refusals are MemberError. Removing
   * the member that serves the request answers "server stopped", as etcd does.
   */
  async memberChange(request: MemberRequest): Promise<MemberAnswer> {
    const answer = await this.memberAdmin.handle(request);
    if (request.op === "remove" && request.memberId === this.self.id) throw new ReplicaError("stopped", "etcdserver: server stopped");
    // The leader decided; this member answers once it has applied as much, so its own list agrees.
    await this.readBarrier(Date.now() + this.config.requestTimeoutMs);
    return answer;
  }

  /** memberIdOfPeerUrls is the etcd id a member with these peer URLs gets (deterministic, so the new process derives it too). */
  memberIdOfPeerUrls(peerUrls: readonly string[]): bigint {
    return memberIdOf(peerUrls, this.config.initialClusterToken);
  }

  private forwardMemberRequest(leader: NodeId, body: Uint8Array, deadline: number): Promise<Uint8Array> {
    const id = `${this.self.nodeId}.${this.requestNonce}.${++this.requestSeq}`;
    const answered = new Promise<Uint8Array>((resolve, reject) =>
      this.memberQueries.set(id, (answer) => (answer === null ? reject(new ReplicaError("stopped", "etcdserver: server stopped")) : resolve(answer))),
    );
    this.transport.send({ type: "memberRequest", groupId: mainGroup, from: this.self.nodeId, to: leader, id, body });
    return this.until(deadline, answered).finally(() => this.memberQueries.delete(id));
  }

  /** activeMembers are this member and the peers heard from within an election timeout (etcd counts "started" members). */
  private activeMembers(): Set<NodeId> {
    const windowMs = Math.max(this.config.tickMs * this.config.electionTimeoutTicks, activeWindowMsMin);
    const now = performance.now();
    const out = new Set<NodeId>([this.self.nodeId]);
    for (const [id, at] of this.lastHeardMs) if (now - at <= windowMs) out.add(id);
    return out;
  }

  private removedNodeIds(): Set<number> {
    return new Set([...this.stateMachine.memberRecords().removed.values()].map((r) => r.nodeId));
  }

  /**
   * afterMembersApplied keeps the transport in step with the applied member
   * records: members' addresses are added or moved, removed members dropped
   * (and refused by `admit`). A member that applied its own removal stops.
   */
  private afterMembersApplied(): void {
    const records = this.stateMachine.memberRecords();
    if (records !== this.syncedRecords) {
      this.syncedRecords = records;
      for (const record of records.records.values()) {
        if (record.nodeId !== this.self.nodeId) this.transport.setPeer(record.nodeId as NodeId, peerAddressOf(record));
      }
      if (records.removed.has(this.self.id.toString())) void this.leaveCluster();
    }
    // A removed member keeps its link until the engine drops it, so it can still hear that its removal
    // record committed (and stop); once dropped, it is cut off and refused.
    const membership = this.engine.status().membership;
    for (const record of records.removed.values()) {
      const id = record.nodeId as NodeId;
      if (id !== this.self.nodeId && !isMember(membership, id) && this.transport.hasPeer(id)) this.transport.removePeer(id);
    }
  }

  /**
   * leaveCluster stops this member once it applied its own removal, as etcd
   * shuts a removed member down. It waits at most an election timeout for the
   * engine to drop it, so the removal's configuration change may still count
   * this member's copy; it cannot wait for more: the others stop talking to a
   * removed member, so it may never hear that the change committed (the
   * leader checked that a quorum stays without it).
   */
  private async leaveCluster(): Promise<void> {
    if (this.removing) return;
    this.removing = true;
    const deadline = Date.now() + this.config.tickMs * this.config.electionTimeoutTicks;
    while (!this.stopped && isMember(this.engine.status().membership, this.self.nodeId) && Date.now() < deadline) await sleep(this.config.tickMs);
    const line = `member ${this.config.name} (${this.self.id.toString(16)}) was removed from the cluster; stopping`;
    process.stderr.write(`${new Date().toISOString()} synod: ${line}\n`);
    await this.stop();
    this.removedResolve?.(line);
  }

  /**
   * memberDuties runs on a timer on the leader: it records the initial
   * members and the cluster id once (so members that join later learn them
   * from the log), and with --auto-promote promotes caught-up learners.
   */
  private memberDuties(): void {
    const status = this.engine.status();
    if (status.role !== "leader" || this.stopped) return;
    const records = this.stateMachine.memberRecords();
    const unrecorded = this.initialRecords.filter((r) => !records.records.has(r.nodeId) && !records.removed.has(r.memberId) && isMember(status.membership, r.nodeId as NodeId));
    if (records.clusterId === undefined || unrecorded.length > 0) {
      const members = { action: "seed" as const, clusterId: this.configClusterId.toString(), records: unrecorded };
      void this.replicate((id) => ({ id, members })).catch(() => undefined);
      return;
    }
    if (this.config.autoPromote) void this.memberAdmin.autoPromote();
  }

  /**
   * moveLeader hands leadership to the member `targetId` (etcd's
   * Maintenance.MoveLeader) and waits until that member leads, as etcd does;
   * only the leader may start it. Moving to the current leader succeeds at once.
   */
  async moveLeader(targetId: bigint): Promise<MoveLeaderOutcome> {
    const status = this.engine.status();
    if (status.role !== "leader") return { ok: false, reason: "notLeader" };
    const target = this.memberOf(targetId);
    if (target === undefined || status.membership.learners.includes(target.nodeId)) return { ok: false, reason: "badTransferee" };
    if (target.nodeId === this.self.nodeId) return { ok: true };
    const started = this.replica.consensus.transferLeadership(target.nodeId);
    this.replica.kick();
    if (!started.ok) {
      switch (started.reason) {
        case "notLeader":
          return { ok: false, reason: "notLeader" };
        case "unknownNode":
        case "learner":
          return { ok: false, reason: "badTransferee" };
        case "self":
          return { ok: true };
        case "transferring":
          break; // another transfer runs: wait for the outcome like for our own
      }
    }
    const deadline = Date.now() + this.config.requestTimeoutMs;
    while (this.engine.status().leader !== target.nodeId) {
      if (this.stopped) throw new ReplicaError("stopped", "etcdserver: server stopped");
      if (Date.now() >= deadline) return { ok: false, reason: "timeout" };
      await sleep(Math.min(this.config.tickMs, moveLeaderPollMsMax));
    }
    return { ok: true };
  }

  /**
   * checkQuota is etcd's quota check before a write (Put, a Txn that writes,
   * LeaseGrant): when the state machine's data plus the request's cost would
   * reach --quota-backend-bytes, this member raises a NOSPACE alarm through
   * the log and the write fails with "database space exceeded". Reads,
   * deletes and compactions are never refused, so space can be won back.
   *
   * etcd measures its backend file, which a defrag shrinks; LMDB's file only
   * shrinks on a defragment but reuses freed pages, so the measure here is the pages the state
   * machine's table occupies (the consensus log, like etcd's WAL, is not counted):
   * after compaction frees history, writes fit again once the alarm is disarmed.
   */
  private async checkQuota(costBytes: number): Promise<void> {
    if (this.stateMachine.usedBytes() + costBytes < this.config.quotaBackendBytes) return;
    await this.alarm({ action: "activate", memberId: this.self.id, alarm: "NOSPACE" }).catch(() => undefined);
    throw new NoSpaceError();
  }

  /**
   * alarm is etcd's Maintenance.Alarm: `get` lists the raised alarms (after a
   * linearizable barrier), `activate` and `deactivate` go through the log so
   * every member applies them alike; each answers the alarms it concerned
   * (deactivate: those that were raised). Alarms name members by etcd id.
   */
  async alarm(request: { action: "get" | "activate" | "deactivate"; memberId: bigint; alarm: AlarmType | "NONE" }): Promise<AlarmInfo[]> {
    if (request.action === "get") {
      await this.readBarrier(Date.now() + this.config.requestTimeoutMs);
      return this.alarmList().filter((a) => (request.memberId === 0n || a.memberId === request.memberId) && (request.alarm === "NONE" || a.alarm === request.alarm));
    }
    const { action, alarm } = request;
    const member = this.memberOf(request.memberId);
    if (member === undefined || alarm === "NONE") return [];
    const wasRaised = this.alarmList().some((a) => a.memberId === member.id && a.alarm === alarm);
    await this.replicate((id) => ({ id, alarm: { action, nodeId: member.nodeId, alarm } }));
    if (action === "deactivate" && !wasRaised) return [];
    return [{ memberId: member.id, alarm }];
  }

  /** alarmList is the raised alarms this member has applied, with etcd member ids. */
  alarmList(): AlarmInfo[] {
    const view = this.memberView();
    return this.stateMachine.alarms().map((a) => {
      const record = recordOf(view, a.nodeId as NodeId) ?? view.records.removed.get([...view.records.removed.keys()].find((k) => view.records.removed.get(k)?.nodeId === a.nodeId) ?? "");
      return { memberId: record === undefined ? 0n : BigInt(record.memberId), alarm: a.alarm };
    });
  }

  // ---------------------------------------------------------------- leases and watches

  /** openWatchStream opens a client's watch stream over this member's applied state. */
  openWatchStream(sink: WatchSink): WatchStream {
    return this.stateMachine.hub.openStream(sink);
  }

  async leaseGrant(request: { id: number; ttl: number }): Promise<{ id: number; ttl: number; revision: number }> {
    await this.checkQuota(leaseCostBytes);
    const response = await this.replicate((id) => ({ id, lease: { leaseGrant: request.id === 0 ? { ttl: request.ttl } : request } }));
    if (response === null || !("leaseGrant" in response)) throw new Error("lease grant applied without its response");
    return { id: response.leaseGrant.id, ttl: response.leaseGrant.ttl, revision: response.leaseGrant.header.revision };
  }

  async leaseRevoke(leaseId: number): Promise<{ revision: number }> {
    const response = await this.replicate((id) => ({ id, lease: { leaseRevoke: { id: leaseId } } }));
    if (response === null || !("leaseRevoke" in response)) throw new Error("lease revoke applied without its response");
    return { revision: response.leaseRevoke.header.revision };
  }

  /** leaseKeepAlive renews a lease on the leader (asking it if this member follows); ttl 0 when it does not exist. */
  async leaseKeepAlive(leaseId: number): Promise<{ id: number; ttl: number }> {
    const answer = await this.askLeader(leaseId, true);
    return { id: leaseId, ttl: answer.found ? Math.round(answer.ttlMs / 1000) : 0 };
  }

  /** leaseTimeToLive: -1 when the lease does not exist, as etcd answers. */
  async leaseTimeToLive(leaseId: number, keys: boolean): Promise<{ id: number; ttl: number; grantedTtl: number; keys: readonly Uint8Array[] }> {
    await this.readBarrier(Date.now() + this.config.requestTimeoutMs);
    const info = this.stateMachine.leases.timeToLive(leaseId, { keys });
    if (!info.ok) return { id: leaseId, ttl: -1, grantedTtl: 0, keys: [] };
    const answer = await this.askLeader(leaseId, false);
    const ttl = answer.found ? Math.ceil(answer.ttlMs / 1000) : -1;
    return { id: leaseId, ttl, grantedTtl: info.value.grantedTtl, keys: info.value.keys };
  }

  async leaseLeases(): Promise<number[]> {
    await this.readBarrier(Date.now() + this.config.requestTimeoutMs);
    return this.stateMachine.leases.leases().map((l) => l.id);
  }

  /** answerLeaseQuery is the leader's side of a keep-alive or remaining-time question. */
  private answerLeaseQuery(leaseId: number, renew: boolean): LeaseAnswer {
    if (this.engine.status().role !== "leader") return { found: false, ttlMs: 0, leader: false };
    const now = performance.now();
    if (!renew) {
      const remaining = this.stateMachine.clock.remainingMs(leaseId, now);
      return remaining === undefined || !Number.isFinite(remaining) ? { found: false, ttlMs: 0, leader: true } : { found: remaining > 0, ttlMs: Math.round(remaining), leader: true };
    }
    const result = this.stateMachine.clock.keepAlive(leaseId, now);
    switch (result.kind) {
      case "renewed":
        // A renewed lease forgets its checkpointed remaining TTL, as etcd does.
        if (result.clearCheckpoint) void this.replicate((id) => ({ id, lease: { leaseCheckpoint: { checkpoints: [{ id: leaseId, remainingTtl: 0 }] } } })).catch(() => undefined);
        return { found: true, ttlMs: result.ttl * 1000, leader: true };
      case "notFound":
      case "expired":
        return { found: false, ttlMs: 0, leader: true };
      case "notPrimary":
        return { found: false, ttlMs: 0, leader: false };
    }
  }

  /** askLeader puts a lease question to the leader (this member, or over the peer link), riding out elections. */
  private async askLeader(leaseId: number, renew: boolean): Promise<LeaseAnswer> {
    const deadline = Date.now() + this.config.requestTimeoutMs;
    for (;;) {
      await this.waitForLeader(deadline);
      const leader = this.engine.status().leader;
      let answer: LeaseAnswer;
      if (leader === this.self.nodeId) {
        answer = this.answerLeaseQuery(leaseId, renew);
      } else {
        const id = `${this.self.nodeId}.${this.requestNonce}.${++this.requestSeq}`;
        const answered = new Promise<LeaseAnswer>((resolve) => this.leaseQueries.set(id, resolve));
        this.transport.send({ type: "leaseQuery", groupId: mainGroup, from: this.self.nodeId, to: leader, id, leaseId, renew });
        try {
          answer = await this.until(Math.min(deadline, Date.now() + 1000), answered);
        } catch {
          answer = { found: false, ttlMs: 0, leader: false };
        } finally {
          this.leaseQueries.delete(id);
        }
      }
      if (answer.leader) return answer;
      if (Date.now() >= deadline) throw new ReplicaError("noLeader", "etcdserver: no leader");
      await sleep(this.config.tickMs);
    }
  }

  /**
   * leaseDuties runs on a timer: the leader extends every lease when it takes
   * over (so no lease expires because of the failover), proposes revokes for
   * expired leases and checkpoints of long ones; other members only track.
   */
  private leaseDuties(): void {
    const clock = this.stateMachine.clock;
    const leader = this.engine.status().role === "leader";
    const now = performance.now();
    if (leader && !this.leading) clock.promote(now, this.config.tickMs * this.config.electionTimeoutTicks);
    if (!leader && this.leading) clock.demote();
    this.leading = leader;
    if (!leader) return;
    for (const leaseId of clock.expired(now)) {
      void this.replicate((id) => ({ id, lease: { leaseRevoke: { id: leaseId } } })).catch(() => undefined);
    }
    const checkpoints = clock.dueCheckpoints(now);
    if (checkpoints.length > 0) void this.replicate((id) => ({ id, lease: { leaseCheckpoint: { checkpoints } } })).catch(() => undefined);
  }

  /**
   * compactionDuties is etcd's auto-compaction, run by the leader: periodic
   * mode compacts, every min(retention, 1 h), to the revision that was current
   * one retention ago; revision mode compacts every 5 minutes to the current
   * revision less the retention.
   */
  private compactionDuties(): void {
    const policy = this.config.autoCompaction;
    const now = Date.now();
    const revision = this.stateMachine.mvcc.revision;
    this.revisionSamples.push({ atMs: now, revision });
    if (this.engine.status().role !== "leader") return;
    let target = 0;
    if (policy.mode === "periodic") {
      if (now - this.lastCompactionMs < Math.min(policy.retentionMs, 3_600_000)) return;
      const cutoff = now - policy.retentionMs;
      const kept = this.revisionSamples.filter((s) => s.atMs <= cutoff);
      target = kept.at(-1)?.revision ?? 0;
      this.revisionSamples = this.revisionSamples.filter((s) => s.atMs > cutoff || s === kept.at(-1));
    } else if (policy.mode === "revision") {
      this.revisionSamples = [];
      if (now - this.lastCompactionMs < revisionCompactionIntervalMs) return;
      target = revision - policy.retention;
    }
    if (target <= Math.max(this.stateMachine.mvcc.compactRevision, 0)) return;
    this.lastCompactionMs = now;
    this.compact({ revision: target }).catch(() => undefined);
  }

  /** watchDuties lets catching-up watchers progress in bounded steps, and sends periodic progress notifications. */
  private watchDuties(): void {
    const hub = this.stateMachine.hub;
    for (let i = 0; i < 4 && hub.unsyncedCount > 0; i++) hub.pump();
    const now = performance.now();
    if (now - this.lastProgressMs >= watchProgressIntervalMs) {
      this.lastProgressMs = now;
      hub.progressTick();
    }
  }

  /** currentRevision is the applied store revision, for response headers. */
  revision(): number {
    return this.stateMachine.mvcc.revision;
  }

  raftTerm(): number {
    return this.engine.status().term;
  }

  status(): StatusInfo {
    const s = this.engine.status();
    const leaderRecord = s.leader === noNode ? undefined : recordOf(this.memberView(), s.leader);
    const error = this.fatalError();
    return {
      version: synodVersion,
      dbSizeBytes: this.dbSizeBytes(),
      dbSizeInUseBytes: this.stateMachine.usedBytes(),
      leader: leaderRecord === undefined ? 0n : BigInt(leaderRecord.memberId),
      raftIndex: s.commitIndex,
      raftTerm: s.term,
      raftAppliedIndex: this.stateMachine.appliedIndex(),
      // etcd lists the raised alarms among a member's errors, in protobuf text form.
      errors: [...(error === undefined ? [] : [error.message]), ...this.alarmList().map((a) => `memberID:${a.memberId} alarm:${a.alarm} `)],
      isLearner: s.membership.learners.includes(this.self.nodeId),
    };
  }

  private dbSizeBytes(): number {
    try {
      return statSync(join(this.config.dataDir, envFileName)).size;
    } catch {
      return 0;
    }
  }

  private checkRequest(request: KvRequest): void {
    const error = this.stateMachine.mvcc.check(request);
    if (error !== undefined) throw error;
  }

  /** write proposes a command and waits until THIS member has applied it. */
  private async write(request: KvRequest): Promise<KvResponse> {
    this.checkRequest(request);
    if (writesData(request)) await this.checkQuota(requestSizeBytes(request));
    const response = await this.replicate((id) => ({ id, request }));
    if (response === null || "leaseGrant" in response || "leaseRevoke" in response || "leaseCheckpoint" in response) {
      throw new Error("a KV request applied without its response");
    }
    return response;
  }

  /**
   * publish makes this member's name and client URLs known to every member
   * through the log (etcd's publish), retrying until it is applied.
   */
  private async publish(): Promise<void> {
    const attributes = { nodeId: this.self.nodeId, name: this.self.name, clientUrls: [...this.config.advertiseClientUrls] };
    while (!this.stopped) {
      try {
        await this.replicate((id) => ({ id, publish: attributes }));
        return;
      } catch {
        await sleep(this.config.tickMs * 5);
      }
    }
  }

  /** replicate proposes a command (followers forward it) and waits until THIS member has applied it. */
  private async replicate(command: (id: string) => KvCommand): Promise<KvResponse | LeaseResponse | null> {
    const id = `${this.self.nodeId}.${this.requestNonce}.${++this.requestSeq}`;
    const data = encodeCommand(command(id));
    const waiter = this.stateMachine.waitFor(id);
    const deadline = Date.now() + this.config.requestTimeoutMs;
    try {
      for (;;) {
        await this.waitForLeader(deadline);
        const refused = new Promise<never>((_, reject) => {
          this.forwarded.set(id, (reason) => reject(rejectionError(reason)));
        });
        this.proposeOrForward(id, data);
        this.metrics.proposalsPending.set(this.forwarded.size);
        try {
          const result = await this.until(deadline, Promise.race([waiter.promise, refused]));
          if (!result.ok) throw result.error;
          return result.response;
        } catch (error) {
          // A refusal means nothing was appended, so proposing again cannot apply the command twice.
          if (isRetryable(error) && Date.now() < deadline) {
            await sleep(this.config.tickMs);
            continue;
          }
          this.metrics.proposalsFailed.inc();
          throw error;
        }
      }
    } finally {
      waiter.cancel();
      this.forwarded.delete(id);
      this.metrics.proposalsPending.set(this.forwarded.size);
    }
  }

  /** waitForLeader resolves once a leader is known, as etcd waits, or fails at the deadline. */
  private async waitForLeader(deadline: number): Promise<void> {
    while (this.engine.status().leader === noNode) {
      if (this.stopped) throw new ReplicaError("stopped", "etcdserver: server stopped");
      if (Date.now() >= deadline) throw new ReplicaError("noLeader", "etcdserver: no leader");
      await sleep(Math.min(this.config.tickMs, 50));
    }
  }

  private proposeOrForward(id: string, data: Uint8Array): void {
    const status = this.engine.status();
    if (status.role === "leader") {
      const result = this.replica.propose(data);
      if (!result.ok) this.forwarded.get(id)?.(result.reason);
      return;
    }
    if (status.leader === noNode) {
      this.forwarded.get(id)?.("noLeader");
      return;
    }
    this.transport.send({ type: "forwardProposal", groupId: mainGroup, from: this.self.nodeId, to: status.leader, id, data });
  }

  private receive(message: PeerMessage): void {
    this.lastHeardMs.set(message.from, performance.now());
    if (message.type === "memberRequest") {
      void this.memberAdmin.serveForwarded(message.body).then((body) => {
        this.transport.send({ type: "memberAnswer", groupId: mainGroup, from: this.self.nodeId, to: message.from, id: message.id, body });
      });
      return;
    }
    if (message.type === "memberAnswer") {
      this.memberQueries.get(message.id)?.(message.body);
      return;
    }
    if (isSnapshotTransferMessage(message)) return this.snapshotTransfer.receive(message);
    if (message.type === "snapshot" && this.snapshotTransfer.offer(message)) return;
    if (message.type !== "forwardProposal" && message.type !== "forwardRejected" && message.type !== "leaseQuery" && message.type !== "leaseAnswer") {
      if (message.type === "heartbeatResponse" && message.readContext === 0) {
        const sentAt = this.heartbeatSentAt.get(message.from);
        if (sentAt !== undefined) this.metrics.peerRoundTrip.observe({ to: String(message.from) }, (performance.now() - sentAt) / 1000);
        this.heartbeatSentAt.delete(message.from);
      }
      this.replica.receive(message);
      return;
    }
    switch (message.type) {
      case "leaseQuery": {
        const answer = this.answerLeaseQuery(message.leaseId, message.renew);
        this.transport.send({ type: "leaseAnswer", groupId: mainGroup, from: this.self.nodeId, to: message.from, id: message.id, ...answer });
        return;
      }
      case "leaseAnswer":
        this.leaseQueries.get(message.id)?.({ found: message.found, ttlMs: message.ttlMs, leader: message.leader });
        return;
      case "forwardProposal": {
        const result = this.engine.status().role === "leader" ? this.replica.propose(message.data) : { ok: false as const, reason: "notLeader" };
        if (!result.ok) {
          this.transport.send({ type: "forwardRejected", groupId: mainGroup, from: this.self.nodeId, to: message.from, id: message.id, reason: result.reason });
        }
        return;
      }
      case "forwardRejected":
        this.forwarded.get(message.id)?.(message.reason);
        return;
    }
  }

  /** until rejects with etcd's "request timed out" if `promise` has not settled by `deadline`. */
  private until<T>(deadline: number, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ReplicaError("timeout", "etcdserver: request timed out")), Math.max(0, deadline - Date.now()));
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

}

/**
 * MoveLeaderOutcome answers {@link SynodServer.moveLeader}: `notLeader` when
 * this member does not lead, `badTransferee` for an unknown member or a
 * learner, `timeout` when the target did not take over in time.
 */
export type MoveLeaderOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: "notLeader" | "badTransferee" | "timeout" };

/** AlarmInfo is one raised alarm as the etcd API reports it. */
export interface AlarmInfo {
  readonly memberId: bigint;
  readonly alarm: AlarmType;
}

/** LeaseAnswer is what the leader says of a lease. */
interface LeaseAnswer {
  readonly found: boolean;
  readonly ttlMs: number;
  /** leader is false when the asked member no longer leads: ask again. */
  readonly leader: boolean;
}

/** backupsInFlightMax bounds the backups one member streams at once (each pins the pages of its read transaction). */
const backupsInFlightMax = 2;
/** compactionCheckIntervalMs: how often auto-compaction samples the revision and checks its schedule. */
const compactionCheckIntervalMs = 1000;
/** revisionCompactionIntervalMs: revision-mode auto-compaction runs every 5 minutes, as etcd's. */
const revisionCompactionIntervalMs = 5 * 60 * 1000;
/** leaseCostBytes is what a lease grant is counted for against the quota (etcd counts a lease's stored record). */
const leaseCostBytes = 64;
/** memberDutyIntervalMs: how often the leader seeds member records and looks for learners to auto-promote. */
const memberDutyIntervalMs = 500;
/** activeWindowMsMin: a peer heard from within this long (or an election timeout, if longer) counts as active. */
const activeWindowMsMin = 1000;
/** moveLeaderPollMsMax bounds how often moveLeader looks whether the target leads yet. */
const moveLeaderPollMsMax = 20;
/** leaseDutyIntervalMs: how often the leader looks for expired leases (etcd: 500 ms). */
const leaseDutyIntervalMs = 500;
/** watchPumpIntervalMs: how often catching-up watchers advance (etcd syncs unsynced watchers every 100 ms). */
const watchPumpIntervalMs = 100;
/** watchProgressIntervalMs: etcd's default progress-notify interval, 10 minutes. */
const watchProgressIntervalMs = 10 * 60 * 1000;

function isRetryable(error: unknown): boolean {
  return error instanceof ReplicaError && (error.code === "noLeader" || error.code === "notLeader" || error.code === "leaderChanged");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function rejectionError(reason: string): ReplicaError {
  switch (reason) {
    case "noLeader":
    case "notLeader":
      return new ReplicaError("noLeader", "etcdserver: no leader");
    case "transferring":
      return new ReplicaError("leaderChanged", "etcdserver: leader changed");
    case "uncommittedBytesMax":
      return new ReplicaError("overloaded", "etcdserver: too many requests");
    case "stopped":
      return new ReplicaError("stopped", "etcdserver: server stopped");
    default:
      return new ReplicaError("overloaded", `etcdserver: proposal refused (${reason})`);
  }
}

function unwrap<T>(result: { ok: true; value: T } | { ok: false; error: KvError }): T {
  if (!result.ok) throw result.error;
  return result.value;
}

/**
 * initialMembersOf derives this member and the members it knows from its
 * flags. A new cluster numbers its initial members 1..n by name, so every
 * member derives the same node ids. A member joining an existing cluster
 * (`--initial-cluster-state existing`) knows only itself: its member id from
 * its peer URLs and the token, its node id from that (nodeIdOfMember); it
 * learns the others from the handshakes of the members that dial it and from
 * the member records in the log.
 */
function initialMembersOf(config: ServerConfig): { self: Member; initial: MemberRecord[] } {
  const own = config.initialCluster.find((m) => m.name === config.name);
  if (own === undefined) throw new Error(`--name ${config.name} is not in --initial-cluster`);
  const derivedId = memberIdOf(own.peerUrls, config.initialClusterToken);
  const log = (line: string): void => void process.stderr.write(`synod: ${line}\n`);
  if (config.initialClusterState === "existing") {
    const { memberId: id, nodeId: nodeOfSelf } = memberIdentityOf(config.dataDir, { memberId: derivedId, nodeId: nodeIdOfMember(derivedId) }, log);
    const self = { nodeId: nodeOfSelf, id, name: config.name, peerUrls: own.peerUrls, clientUrls: config.advertiseClientUrls, isLearner: false };
    return { self, initial: [{ nodeId: self.nodeId, memberId: id.toString(), peerUrls: own.peerUrls }] };
  }
  const sorted = [...config.initialCluster].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const initial = sorted.map((m, i) => ({ nodeId: i + 1, memberId: memberIdOf(m.peerUrls, config.initialClusterToken).toString(), peerUrls: m.peerUrls }));
  const { memberId: id, nodeId: nodeOfSelf } = memberIdentityOf(config.dataDir, { memberId: derivedId, nodeId: nodeId(sorted.indexOf(own) + 1) }, log);
  return { self: { nodeId: nodeOfSelf, id, name: config.name, peerUrls: own.peerUrls, clientUrls: config.advertiseClientUrls, isLearner: false }, initial };
}

function peerAddressOf(member: { readonly peerUrls: readonly string[] }): HostPort {
  const url = member.peerUrls[0];
  if (url === undefined) throw new Error("a member has no peer URL");
  return parseUrl(url, "--initial-cluster");
}

/**
 * The engine-neutral surface of a replicated-log engine (Raft or Multi-Paxos).
 *
 * An engine is a pure, deterministic state machine: no I/O, no timers, no clock,
 * no global randomness. Time arrives as `tick()`, randomness as an injected
 * `Random`. The driver (the replica in production, the simulator in tests) loops:
 *
 *   1. feed inputs: `step(msg)`, `tick()`, `propose(...)`, `readIndex(...)`;
 *   2. `ready()` returns what must happen now;
 *   3. the driver (which may first send `messagesBeforePersist`, at once), IN THIS ORDER:
 *        a. durably persists `snapshot`, then `entries`, then `hardState`
 *           (fsync before continuing);
 *        b. sends `messages` (they may acknowledge what step a made durable,
 *           so they are never sent before it);
 *        c. applies `committedEntries` to the state machine, in order;
 *        d. serves `readStates` once its applied index reaches each one's index;
 *   4. `advance(ready)` tells the engine all of it was done.
 *
 * Nothing in a `Ready` may be skipped or reordered; a driver that crashes midway
 * restarts from what it made durable.
 */

/** NodeId identifies a member of a group; 0 means "none". */
export type NodeId = number & { readonly __brand: "NodeId" };
/** Term is Raft's term, or Paxos' ballot packed into one ordered number. */
export type Term = number & { readonly __brand: "Term" };
/** LogIndex is a position in the replicated log (Raft index, Paxos slot); 0 is "before the first". */
export type LogIndex = number & { readonly __brand: "LogIndex" };
/** GroupId identifies one consensus group; a process may host many. */
export type GroupId = number & { readonly __brand: "GroupId" };

export const noNode = 0 as NodeId;

export function nodeId(n: number): NodeId {
  return n as NodeId;
}
export function term(n: number): Term {
  return n as Term;
}
export function logIndex(n: number): LogIndex {
  return n as LogIndex;
}
export function groupId(n: number): GroupId {
  return n as GroupId;
}

/** Random is the injected source of randomness: an integer in [0, n). */
export interface Random {
  nextInt(n: number): number;
}

/** ConfChangeOp is one step of a membership change. */
export type ConfChangeOp =
  | { readonly type: "addVoter"; readonly node: NodeId }
  | { readonly type: "addLearner"; readonly node: NodeId }
  | { readonly type: "removeNode"; readonly node: NodeId };

/**
 * ConfChange asks for one or more membership changes at once. Several changes, or
 * any change of more than one voter, go through joint consensus.
 */
export interface ConfChange {
  readonly ops: readonly ConfChangeOp[];
}

/**
 * Membership is the configuration of a group. While `votersOutgoing` is non-empty
 * the group is in a joint configuration: every decision needs a majority of
 * `voters` AND a majority of `votersOutgoing`.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * Entry is one log record. `normal` carries client data (empty data is the
 * no-op a new leader appends); `config` carries a membership change (an empty
 * `ops` list leaves a joint configuration).
 */
export type Entry =
  | { readonly index: LogIndex; readonly term: Term; readonly type: "normal"; readonly data: Uint8Array }
  | { readonly index: LogIndex; readonly term: Term; readonly type: "config"; readonly change: ConfChange };

/** SnapshotMeta says what log prefix a snapshot replaces: everything up to and including `index`. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly membership: Membership;
}

/** Snapshot is an application snapshot: state-machine bytes plus what they cover. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** ReadState says: a linearizable read tagged `requestId` may be served once applied >= index. */
export interface ReadState {
  readonly requestId: number;
  readonly index: LogIndex;
}

/** Role is what a node is doing now. */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Envelope is what every peer message carries, whatever the engine. */
export interface Envelope {
  readonly groupId: GroupId;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** Ready is the batch of work an engine hands its driver; see the module comment for the order. */
export interface Ready<M extends Envelope, H> {
  /** Hard state to persist, or null when unchanged. */
  readonly hardState: H | null;
  /**
   * Log entries to persist; they replace any stored entries from `entries[0].index` on.
   * With a snapshot, they are the whole log after it (see `snapshot`).
   */
  readonly entries: readonly Entry[];
  /**
   * A snapshot to persist and install into the state machine, or null. The
   * driver replaces its whole stored log with it: an engine that keeps entries
   * above the snapshot re-sends them in `entries` of the same Ready.
   */
  readonly snapshot: Snapshot | null;
  /** Messages to send, only after everything above is durable. */
  readonly messages: readonly M[];
  /**
   * Messages the driver may send at once, before persisting this Ready: a
   * leader's replication traffic, which acknowledges nothing (a leader counts
   * its own copy of an entry only once it is durable, thesis §10.2.1), so its
   * disk write overlaps its followers'.
   */
  readonly messagesBeforePersist: readonly M[];
  /** Committed entries to apply, in order. */
  readonly committedEntries: readonly Entry[];
  /** Linearizable reads that became safe. */
  readonly readStates: readonly ReadState[];
  /** Read requests the engine gave up on (lost leadership, no leader); the caller retries. */
  readonly droppedReads: readonly number[];
}

/**
 * ProposeResult tells whether a proposal was appended, and where. Callers
 * recognise their command when it is applied by its content (a request id
 * inside the data), not by (index, term): a Paxos leader may re-propose a
 * recovered value under a new ballot, so the same data can commit under
 * another term.
 */
export type ProposeResult =
  | { readonly ok: true; readonly index: LogIndex; readonly term: Term }
  | { readonly ok: false; readonly reason: ProposeRejection; readonly leader: NodeId };

/** ProposeRejection names why a proposal was refused; nothing was appended. */
export type ProposeRejection =
  | "notLeader"
  | "transferring"
  | "uncommittedBytesMax"
  | "entryBytesMax"
  | "confChangePending"
  | "invalidConfChange";

/** ReadIndexResult tells whether a read request was accepted for processing. */
export type ReadIndexResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "noLeader" | "readsPendingMax"; readonly leader: NodeId };

/** TransferResult tells whether a leadership transfer started. */
export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "notLeader" | "unknownNode" | "learner" | "self" | "transferring" };

/** CompactResult tells whether a snapshot was taken and the log truncated. */
export type CompactResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "notApplied" | "alreadyCompacted" };

/** EngineStatus is a read-only view for drivers, metrics and invariant checks. */
export interface EngineStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly leader: NodeId;
  readonly commitIndex: LogIndex;
  readonly appliedIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly firstIndex: LogIndex;
  readonly membership: Membership;
}

/** FollowerProgress is the leader's read-only view of one follower: how much of the log it is known to hold. */
export interface FollowerProgress {
  readonly match: LogIndex;
}

/** Engine is the surface both consensus engines implement. */
export interface Engine<M extends Envelope, H> {
  step(msg: M): void;
  tick(): void;
  propose(data: Uint8Array): ProposeResult;
  proposeConfChange(change: ConfChange): ProposeResult;
  readIndex(requestId: number): ReadIndexResult;
  transferLeadership(to: NodeId): TransferResult;
  /**
   * compact records that `data` is the state machine as of applied `index` and
   * drops the in-memory log up to it; the snapshot is what lagging followers get.
   * The caller persists that snapshot itself (it is not returned in a Ready) and
   * may then drop its durable log up to `index`: after a restart the engine is
   * given that snapshot and the log after it.
   */
  compact(index: LogIndex, data: Uint8Array): CompactResult;
  /** latestSnapshot is the newest snapshot this node holds (taken by `compact` or received), or null. */
  latestSnapshot(): Snapshot | null;
  hasReady(): boolean;
  ready(): Ready<M, H>;
  advance(ready: Ready<M, H>): void;
  status(): EngineStatus;
  /**
   * followerProgress is, on the leader, what each other member is known to
   * hold (a copy: the caller cannot change the engine through it); empty on a
   * node that does not lead. The server uses it to tell whether a learner is
   * in sync before promoting it.
   */
  followerProgress(): ReadonlyMap<NodeId, FollowerProgress>;
  /** entryAt returns the entry at `index` if still in the log (for invariant checks and catch-up). */
  entryAt(index: LogIndex): Entry | undefined;
}

/** assertNever ends every exhaustive switch. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

/** assert crashes on a broken invariant; it stays on in production. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

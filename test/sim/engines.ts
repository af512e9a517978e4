import type { Engine, Entry, Envelope, Membership, NodeId, Random, Ready, SnapshotMeta } from "../../src/consensus/types.js";
import type { PersistProblem, SimDisk } from "./disk.js";
import type { Violation } from "./invariants.js";
import { paxosAdapter } from "./paxos-adapter.js";
import { raftAdapter } from "./raft-adapter.js";

/** EngineParams are the timing and limits the simulator draws per seed for any engine. */
export interface EngineParams {
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly appendEntriesMax: number;
  readonly inflightMessagesMax: number;
  readonly uncommittedBytesMax: number;
}

/** CreateEngineOptions is everything an adapter needs to build one node's engine. */
export interface CreateEngineOptions<H> {
  readonly id: NodeId;
  /** disk is a private copy of the node's durable state; the engine may keep it. */
  readonly disk: SimDisk<H>;
  readonly random: Random;
  readonly faults: Readonly<Record<string, boolean>>;
  readonly params: EngineParams;
}

/**
 * EngineChecker holds an engine's own safety records across a whole run (every
 * node, every restart). Each method returns the first violation it sees, or null.
 */
export interface EngineChecker<M extends Envelope, H> {
  /**
   * afterPersist sees a Ready `node` just made durable, before its messages
   * leave; `before` is the hard state that was durable until then.
   */
  afterPersist(node: number, ready: Ready<M, H>, before: H, disk: SimDisk<H>): Violation | null;
  /** noteApplied sees an entry some node applied (so it is committed); the state-machine safety check has passed. */
  noteApplied(entry: Entry): Violation | null;
  /** noteSnapshot learns that everything up to `meta.index` is committed, with `meta.membership` after it. */
  noteSnapshot(meta: SnapshotMeta): Violation | null;
}

/**
 * EngineAdapter teaches the simulator one engine: how to build it from durable
 * state, how to persist its Ready, how to describe its messages for the trace,
 * and the engine-specific safety checks done on every message sent.
 */
export interface EngineAdapter<M extends Envelope, H> {
  readonly name: string;
  /** faultNames are the planted faults `--fault` may turn on. */
  readonly faultNames: readonly string[];
  /** messageTypeNames[code] names the message type `messageCode` returns. */
  readonly messageTypeNames: readonly string[];
  /**
   * termsMatchPrefixes says whether (index, term) names an entry and its whole
   * prefix (Raft's Log Matching), so generic checks may compare terms; false
   * when a value keeps its content but changes term when re-proposed (Paxos).
   */
  readonly termsMatchPrefixes: boolean;
  /** createChecker starts the engine's own per-run safety checks, or returns null when it has none beyond `checkSend`. */
  createChecker(bootstrap: Membership): EngineChecker<M, H> | null;
  /** initialDisk is the durable state of a node that has never run. */
  initialDisk(bootstrap: Membership): SimDisk<H>;
  create(options: CreateEngineOptions<H>): Engine<M, H>;
  /** persist writes a Ready to disk (snapshot, entries, hard state), or says why it cannot. */
  persist(disk: SimDisk<H>, ready: Ready<M, H>): PersistProblem;
  /**
   * persistCompaction writes to disk the snapshot `engine.compact` just took
   * (dropping the log prefix it covers), for engines whose Ready does not carry
   * their own snapshots.
   */
  persistCompaction(engine: Engine<M, H>, disk: SimDisk<H>): void;
  /** hardStateWords returns three numbers that summarise a hard state in the trace. */
  hardStateWords(hardState: H): readonly [number, number, number];
  messageCode(msg: M): number;
  messageTerm(msg: M): number;
  /** messageIndex is the log position a message is about (0 when none). */
  messageIndex(msg: M): number;
  /** messageCount is a second number worth tracing: entries carried, granted, rejected. */
  messageCount(msg: M): number;
  /** leaderOnlyTerm is the term whose leadership the sender claims by sending `msg`, or -1. */
  leaderOnlyTerm(msg: M): number;
  /** checkSend checks, as `msg` is sent, that what it acknowledges is on the sender's disk. */
  checkSend(msg: M, disk: SimDisk<H>): string | null;
}

/**
 * RegisteredEngine hides an adapter's message and hard-state types: a caller
 * passes a generic visitor and gets the adapter with its types intact.
 */
export interface RegisteredEngine {
  readonly name: string;
  readonly faultNames: readonly string[];
  use<R>(visitor: <M extends Envelope, H>(adapter: EngineAdapter<M, H>) => R): R;
}

function register<M extends Envelope, H>(adapter: EngineAdapter<M, H>): RegisteredEngine {
  return {
    name: adapter.name,
    faultNames: adapter.faultNames,
    use: (visitor) => visitor(adapter),
  };
}

/** engines is the registry the simulator picks from with `--engine`. */
export const engines: ReadonlyMap<string, RegisteredEngine> = new Map([
  [raftAdapter.name, register(raftAdapter)],
  [paxosAdapter.name, register(paxosAdapter)],
]);

import type { Engine, Envelope, LogIndex, ProposeResult, Ready } from "../consensus/types.js";
import { ReplicaError } from "./errors.js";
import type { LogPort, PeerPort, StateMachinePort } from "./ports.js";

/** ReplicaOptions holds the driver's timing and limits, with names. */
export interface ReplicaOptions {
  /** tickMs is the wall-clock length of one engine tick. */
  readonly tickMs: number;
  /** readTimeoutMs bounds how long a linearizable read waits for its read index. */
  readonly readTimeoutMs: number;
  /** readsWaitingMax bounds reads queued for the next read-index round. */
  readonly readsWaitingMax: number;
  /** snapshotEntries: after this many applied entries beyond the last snapshot, take a new one. */
  readonly snapshotEntries: number;
  /** compactionHoldEntriesMax bounds how far a held compaction (ReplicaHooks.compactionHeld) lets the log grow. */
  readonly compactionHoldEntriesMax: number;
}

export const defaultReplicaOptions: ReplicaOptions = {
  tickMs: 100,
  readTimeoutMs: 5_000,
  readsWaitingMax: 100_000,
  snapshotEntries: 10_000,
  compactionHoldEntriesMax: 50_000,
};

/** ReplicaHooks let the server observe the loop (metrics, apply results) without the driver knowing them. */
export interface ReplicaHooks {
  /** afterApply runs once a batch of committed entries is durably applied. */
  afterApply?(appliedIndex: LogIndex): void;
  /** persisted reports the duration of one durable commit. */
  persisted?(durationMs: number): void;
  /** afterReady runs after each Ready was handled (role and leader may have changed). */
  afterReady?(): void;
  /**
   * compactionHeld asks whether a due compaction should wait (a snapshot is
   * being sent): it waits until the log holds compactionHoldEntriesMax entries
   * beyond the snapshot, then compacts anyway.
   */
  compactionHeld?(): boolean;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface ReadRound {
  readonly requestId: number;
  readonly waiters: Waiter[];
  readonly deadline: number;
  /** The leader the round was asked of: if another takes over, the answer may never come. */
  readonly leader: number;
}

/**
 * Replica drives ONE consensus group: it feeds the engine ticks, peer messages
 * and proposals, and runs the Ready loop in the order the engine requires:
 *
 *   persist (hard state, entries, snapshot; state-machine changes of the same
 *   Ready ride in the same durable commit) → send messages → report applied →
 *   advance.
 *
 * One Ready is in flight at a time; inputs that arrive meanwhile go to the
 * engine and are picked up by the next Ready.
 */
export class Replica<M extends Envelope, H> {
  private readonly options: ReplicaOptions;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private running = false;
  private stopped = false;
  private failure: Error | undefined;

  private readQueue: Waiter[] = [];
  private readRound: ReadRound | undefined;
  private readRequestNext = 1;
  private appliedWaiters: { index: number; waiter: Waiter }[] = [];
  private snapshotIndex: number;
  /** compactDue: the next compaction must not wait for snapshotEntries (see retakeSnapshot). */
  private compactDue = false;

  constructor(
    private readonly engine: Engine<M, H>,
    private readonly log: LogPort<H>,
    private readonly peers: PeerPort<M>,
    private readonly stateMachine: StateMachinePort,
    options: Partial<ReplicaOptions> = {},
    private readonly hooks: ReplicaHooks = {},
  ) {
    this.options = { ...defaultReplicaOptions, ...options };
    this.snapshotIndex = engine.status().firstIndex - 1;
  }

  start(): void {
    this.retakeSnapshot();
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.schedule();
  }

  /** stop halts ticking and fails every waiting request; the engine state is dropped with the process. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const error = new ReplicaError("stopped", "etcdserver: server stopped");
    this.failWaiters(error);
  }

  /** error is the fatal failure that stopped this replica, if any (a storage failure, a broken invariant). */
  error(): Error | undefined {
    return this.failure;
  }

  receive(message: M): void {
    if (this.stopped) return;
    this.engine.step(message);
    this.schedule();
  }

  propose(data: Uint8Array): ProposeResult {
    const result = this.engine.propose(data);
    this.schedule();
    return result;
  }

  /** status passes the engine's view through. */
  status(): ReturnType<Engine<M, H>["status"]> {
    return this.engine.status();
  }

  /** engineHandle is the engine itself, for membership changes and transfers issued by the server. */
  get consensus(): Engine<M, H> {
    return this.engine;
  }

  /** kick runs the Ready loop after the caller changed the engine directly. */
  kick(): void {
    this.schedule();
  }

  /**
   * linearizableBarrier resolves once this member's applied state includes
   * every write acknowledged before the call (ReadIndex). Concurrent callers
   * share one read-index round.
   */
  linearizableBarrier(): Promise<void> {
    if (this.stopped) return Promise.reject(new ReplicaError("stopped", "etcdserver: server stopped"));
    if (this.readQueue.length >= this.options.readsWaitingMax) {
      return Promise.reject(new ReplicaError("overloaded", "etcdserver: too many requests"));
    }
    return new Promise<void>((resolve, reject) => {
      this.readQueue.push({ resolve, reject });
      this.maybeStartReadRound();
    });
  }

  /** waitApplied resolves once the applied index reaches `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.stateMachine.appliedIndex() >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.appliedWaiters.push({ index, waiter: { resolve, reject } });
    });
  }

  // ------------------------------------------------------------------ loop

  private tick(): void {
    this.engine.tick();
    const round = this.readRound;
    if (round !== undefined && Date.now() > round.deadline) {
      this.readRound = undefined;
      for (const w of round.waiters) w.reject(new ReplicaError("timeout", "etcdserver: request timed out"));
      this.maybeStartReadRound();
    } else if (round !== undefined && this.engine.status().leader !== round.leader) {
      // The leader asked is gone: its answer may never come, and a read has no effect, so ask again.
      this.readRound = undefined;
      for (const w of round.waiters) w.reject(new ReplicaError("leaderChanged", "etcdserver: leader changed"));
      this.maybeStartReadRound();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      if (!this.stopped && this.engine.hasReady()) {
        const ready = this.engine.ready();
        await this.handleReady(ready);
        this.engine.advance(ready);
        this.afterAdvance();
        this.hooks.afterReady?.();
      }
    } catch (error) {
      // A failed durable write or a broken invariant: nothing more can be acknowledged safely.
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.stop();
      return;
    } finally {
      this.running = false;
    }
    await this.maybeCompact();
    // The next Ready waits for the event loop to take in what arrived during
    // this one's disk write (proposals, acknowledgements), so it carries them all.
    if (!this.stopped && this.engine.hasReady()) this.schedule();
  }

  private async handleReady(ready: Ready<M, H>): Promise<void> {
    const started = performance.now();
    // A leader's replication traffic leaves first, so followers write while we do.
    for (const message of ready.messagesBeforePersist) this.peers.send(message);
    // Enqueued in the same turn: one durable commit for all three.
    const persisted = this.log.persist({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot });
    // A snapshot at index 0 with no data (the Paxos engine's way of handing a joining member the
    // group's configuration before any compaction) holds no state: the empty state machine is it.
    const carriesState = ready.snapshot !== null && (ready.snapshot.meta.index > 0 || ready.snapshot.data.length > 0);
    const restored = ready.snapshot === null || !carriesState ? Promise.resolve() : this.stateMachine.restore(ready.snapshot);
    const applied = ready.committedEntries.length === 0 ? Promise.resolve() : this.stateMachine.apply(ready.committedEntries);
    await Promise.all([persisted, restored, applied]);
    this.hooks.persisted?.(performance.now() - started);
    for (const message of ready.messages) this.peers.send(message);
    if (ready.snapshot !== null) this.snapshotIndex = Math.max(this.snapshotIndex, ready.snapshot.meta.index);
    for (const rs of ready.readStates) this.readIndexReady(rs.requestId, rs.index);
    for (const id of ready.droppedReads) this.readIndexDropped(id);
  }

  private afterAdvance(): void {
    const applied = this.stateMachine.appliedIndex();
    this.hooks.afterApply?.(applied);
    if (this.appliedWaiters.length === 0) return;
    const still: typeof this.appliedWaiters = [];
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.waiter.resolve();
      else still.push(w);
    }
    this.appliedWaiters = still;
  }

  // ------------------------------------------------------------------ reads

  private maybeStartReadRound(): void {
    if (this.readRound !== undefined || this.readQueue.length === 0) return;
    const waiters = this.readQueue;
    this.readQueue = [];
    const requestId = this.readRequestNext++;
    const result = this.engine.readIndex(requestId);
    if (!result.ok) {
      const error =
        result.reason === "noLeader"
          ? new ReplicaError("noLeader", "etcdserver: no leader")
          : new ReplicaError("overloaded", "etcdserver: too many requests");
      for (const w of waiters) w.reject(error);
      return;
    }
    this.readRound = { requestId, waiters, deadline: Date.now() + this.options.readTimeoutMs, leader: this.engine.status().leader };
    this.schedule();
  }

  private readIndexReady(requestId: number, index: LogIndex): void {
    const round = this.readRound;
    if (round?.requestId !== requestId) return;
    this.readRound = undefined;
    const done = this.waitApplied(index);
    for (const w of round.waiters) done.then(w.resolve, w.reject);
    this.maybeStartReadRound();
  }

  private readIndexDropped(requestId: number): void {
    const round = this.readRound;
    if (round?.requestId !== requestId) return;
    this.readRound = undefined;
    for (const w of round.waiters) w.reject(new ReplicaError("leaderChanged", "etcdserver: leader changed"));
    this.maybeStartReadRound();
  }

  private failWaiters(error: Error): void {
    for (const w of this.readQueue) w.reject(error);
    this.readQueue = [];
    if (this.readRound !== undefined) for (const w of this.readRound.waiters) w.reject(error);
    this.readRound = undefined;
    for (const w of this.appliedWaiters) w.waiter.reject(error);
    this.appliedWaiters = [];
  }

  // ------------------------------------------------------------------ compaction

  /**
   * retakeSnapshot runs at start-up, and after a defragment released the
   * snapshot's view (the server calls it then). What a snapshot describes (the state
   * machine's pinned view of its state at the snapshot's index) does not
   * survive a restart, and the state machine may have applied entries after
   * the last compaction. If the applied index is the snapshot's, the view is
   * taken again at once. If it is past it, a new snapshot is taken at the
   * first chance: the engine restarts applied at its snapshot index, but both
   * engines persist their commit index with (or before) the entries applied
   * under it, so the first Ready re-hands those entries (the state machine
   * skips them) and the engine may then compact at the applied index. Until
   * then no view is held and a follower pulling the old snapshot is told it
   * is gone.
   */
  retakeSnapshot(): void {
    const snapshot = this.engine.latestSnapshot();
    if (snapshot === null) return;
    const applied = this.stateMachine.appliedIndex();
    if (applied === snapshot.meta.index) this.stateMachine.snapshotData();
    else this.compactDue = applied > snapshot.meta.index;
  }

  private async maybeCompact(): Promise<void> {
    const applied = this.stateMachine.appliedIndex();
    if ((!this.compactDue && applied - this.snapshotIndex < this.options.snapshotEntries) || this.stopped) return;
    const holdBound = Math.max(this.options.snapshotEntries, this.options.compactionHoldEntriesMax);
    if (!this.compactDue && applied - this.snapshotIndex < holdBound && this.hooks.compactionHeld?.() === true) return;
    if (applied <= this.snapshotIndex || applied > this.engine.status().appliedIndex) return;
    const result = this.engine.compact(applied, this.stateMachine.snapshotData());
    if (!result.ok) return;
    this.compactDue = false;
    this.snapshotIndex = applied;
    const snapshot = this.engine.latestSnapshot();
    if (snapshot === null) return;
    try {
      await this.log.saveSnapshot(snapshot);
      await this.log.compact(snapshot.meta.index);
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.stop();
    }
  }
}

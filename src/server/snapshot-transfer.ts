import type { GroupId, NodeId, Snapshot } from "../consensus/types.js";
import type { ConsensusMessage } from "./engines.js";
import type { PeerMessage, SnapshotTransferMessage } from "./peer-messages.js";
import { decodeSnapshotDescriptor } from "./snapshot-tables.js";
import type { SnapshotRow, SnapshotRows, StagingProgress } from "./snapshot-tables.js";

/**
 * Snapshot transfer in chunks, pulled by the receiver.
 *
 * A snapshot's data is a descriptor (src/server/snapshot-tables.ts); the state
 * stays in the sender's pinned read view. When an engine `snapshot` message
 * with a descriptor arrives, it is held back from the engine: the receiver
 * pulls the rows from the message's sender one chunk at a time
 * (`snapshotPull` → `snapshotChunk`), writing each chunk and its progress into
 * a staging table in ONE durable commit before asking for the next. Only when
 * the staged copy is complete does the held message reach the engine, whose
 * Ready then installs the staged table (KvStateMachine.restore).
 *
 * Memory stays bounded by the chunk size on both sides: one pull is in flight
 * per receiver, and a sender reads one chunk per pull. A pull unanswered for
 * `pullTimeoutMs` is sent again to the latest sender of that snapshot; a
 * restart resumes from the durable progress; a sender that no longer holds
 * the snapshot answers `snapshotGone`, which clears the staging: the engine
 * sends a newer snapshot in time (Raft after an election timeout, Paxos after
 * heartbeats without progress).
 */

/** SnapshotTransferOptions are the limits of the transfer, with names. */
export interface SnapshotTransferOptions {
  readonly self: NodeId;
  readonly groupId: GroupId;
  /** chunkBytesMax bounds the key and value bytes of one chunk; a single larger row travels alone. */
  readonly chunkBytesMax: number;
  /** pullTimeoutMs: a pull unanswered this long is sent again. */
  readonly pullTimeoutMs: number;
}

/** defaultSnapshotTransferLimits are the production defaults. */
export const defaultSnapshotTransferLimits = {
  chunkBytesMax: 1024 * 1024,
  pullTimeoutMs: 5_000,
} as const;

/** SnapshotTablesPort is what the transfer needs of the state machine's tables (SnapshotTables). */
export interface SnapshotTablesPort {
  readRows(index: number, afterKey: Uint8Array | null, bytesMax: number): SnapshotRows | null;
  stagingProgress(): StagingProgress | null;
  beginStaging(index: number, term: number): Promise<void>;
  stageRows(rows: readonly SnapshotRow[], done: boolean): Promise<void>;
  clearStaging(): Promise<void>;
}

/** SnapshotTransferPorts connect the transfer to the member: tables, peers, engine, metrics, log. */
export interface SnapshotTransferPorts {
  readonly tables: SnapshotTablesPort;
  send(message: SnapshotTransferMessage): void;
  /** deliver gives a held engine message to the replica. */
  deliver(message: ConsensusMessage): void;
  /** latestSnapshot is the engine's newest snapshot: the only one served. */
  latestSnapshot(): Snapshot | null;
  /** appliedIndex is the state machine's applied index. */
  appliedIndex(): number;
  log(line: string): void;
  bytesSent?(bytes: number): void;
  bytesReceived?(bytes: number): void;
  /** resumed counts a transfer continued from staged progress (after a restart, a timeout or a new sender). */
  resumed?(): void;
  nowMs?(): number;
}

/** EngineSnapshotMessage is either engine's `snapshot` message. */
export type EngineSnapshotMessage = Extract<ConsensusMessage, { type: "snapshot" }>;

/** isSnapshotTransferMessage tells the transfer's own messages from the rest. */
export function isSnapshotTransferMessage(message: PeerMessage): message is SnapshotTransferMessage {
  return message.type === "snapshotPull" || message.type === "snapshotChunk" || message.type === "snapshotGone";
}

interface Wanted {
  message: EngineSnapshotMessage;
  readonly index: number;
  readonly term: number;
  readonly startedMs: number;
}

interface OutstandingPull {
  readonly to: NodeId;
  readonly afterKey: Uint8Array | null;
  readonly sentMs: number;
}

/** SnapshotTransfer serves pulls of this member's latest snapshot and pulls the snapshots it is sent. */
export class SnapshotTransfer {
  private wanted: Wanted | null = null;
  /**
   * alternative is the latest offer of another, not newer snapshot (a new
   * Raft leader's, or under Paxos another acceptor's): taken only if the
   * current sender stops answering or no longer holds its snapshot, so that
   * two senders cannot make the staging restart back and forth.
   */
  private alternative: EngineSnapshotMessage | null = null;
  private pull: OutstandingPull | null = null;
  /** writing: a staging commit is in flight; nothing else happens until it is durable. */
  private writing = false;
  /** installing: a delivered snapshot the engine took; its staging is kept until restore installs it. */
  private installing: number | null = null;
  /** resumeChecked: the index whose durable progress was already looked at in this process. */
  private resumeChecked: number | null = null;
  private failed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly createdMs: number;
  /** lastServedMs is when this member last answered a pull with a chunk. */
  private lastServedMs: number | null = null;

  constructor(
    private readonly options: SnapshotTransferOptions,
    private readonly ports: SnapshotTransferPorts,
  ) {
    if (!(options.chunkBytesMax > 0 && options.pullTimeoutMs > 0)) throw new Error("snapshot transfer limits must be positive");
    this.createdMs = this.now();
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(this.options.pullTimeoutMs / 4)));
  }

  stop(): void {
    clearInterval(this.timer);
    this.failed = true;
  }

  /** receive handles the transfer's own messages (pulls as a sender; chunks and gone as a receiver). */
  receive(message: SnapshotTransferMessage): void {
    switch (message.type) {
      case "snapshotPull":
        return this.onPull(message);
      case "snapshotChunk":
        return this.onChunk(message);
      case "snapshotGone":
        return this.onGone(message);
    }
  }

  /**
   * offer looks at an engine snapshot message before the engine does. It
   * returns true when the transfer keeps it (its data is a descriptor and its
   * state is not staged yet; a malformed descriptor is dropped); false hands it
   * to the engine as before (state carried inline, or a snapshot the member is
   * already past, which the engine answers).
   */
  offer(message: EngineSnapshotMessage): boolean {
    return this.onSnapshot(message);
  }

  /** tick re-sends a pull that went unanswered and notices a finished install; the timer calls it. */
  tick(): void {
    const progress = this.ports.tables.stagingProgress();
    if (this.installing !== null && progress?.index !== this.installing) this.installing = null;
    const pull = this.pull;
    const wanted = this.wanted;
    if (pull !== null && wanted !== null && this.now() - pull.sentMs >= this.options.pullTimeoutMs) {
      this.pull = null;
      const alternative = this.alternative;
      if (alternative !== null) {
        this.ports.log(`snapshot ${wanted.index}: pull unanswered for ${this.options.pullTimeoutMs} ms; turning to snapshot ${alternative.snapshot.meta.index} from node ${alternative.from}`);
        this.want(alternative);
      } else {
        if (pull.afterKey !== null) this.ports.resumed?.();
        const rows = progress?.index === wanted.index ? progress.rows : 0;
        this.ports.log(`snapshot ${wanted.index}: pull unanswered for ${this.options.pullTimeoutMs} ms; asking node ${wanted.message.from} again after ${rows} rows`);
      }
    }
    if (this.wanted === null && this.alternative !== null && !this.keepingStaged()) this.want(this.alternative);
    this.advance();
  }

  // ----------------------------------------------------------- sender

  private onPull(m: Extract<SnapshotTransferMessage, { type: "snapshotPull" }>): void {
    if (m.groupId !== this.options.groupId) return;
    const latest = this.ports.latestSnapshot();
    const held = latest !== null && latest.meta.index === m.index && latest.meta.term === m.term;
    const rows = held ? this.ports.tables.readRows(m.index, m.afterKey, this.options.chunkBytesMax) : null;
    const envelope = { groupId: this.options.groupId, from: this.options.self, to: m.from };
    if (rows === null) {
      this.ports.send({ ...envelope, type: "snapshotGone", index: m.index });
      return;
    }
    this.ports.send({ ...envelope, type: "snapshotChunk", index: m.index, term: m.term, rows: rows.rows, done: rows.done });
    this.ports.bytesSent?.(rows.bytes);
    this.lastServedMs = this.now();
  }

  /**
   * serving tells whether this member served a pull of its snapshot within
   * two pull timeouts: a transfer is under way, or its receiver is catching up
   * from the log after it. The replica holds off the next compaction then,
   * since dropping the snapshot (or the log right after it) would send the
   * receiver back to the start.
   */
  serving(): boolean {
    return this.lastServedMs !== null && this.now() - this.lastServedMs < 2 * this.options.pullTimeoutMs;
  }

  // ----------------------------------------------------------- receiver

  private onSnapshot(m: EngineSnapshotMessage): boolean {
    const index = decodeSnapshotDescriptor(m.snapshot.data);
    if (index === null) return false;
    if (m.groupId !== this.options.groupId || index !== m.snapshot.meta.index) return true;
    // The engine ignores a snapshot it is already past, and answers the sender: let it.
    if (index <= this.ports.appliedIndex()) return false;
    const term = m.snapshot.meta.term;
    const wanted = this.wanted;
    const staged = this.ports.tables.stagingProgress();
    if (wanted !== null && wanted.index === index && wanted.term === term) wanted.message = m;
    else if (staged !== null && staged.rows > 0 && staged.index === index && staged.term === term) this.want(m);
    else if ((wanted !== null && index <= wanted.index) || this.keepingStaged()) this.alternative = newer(this.alternative, m);
    else this.want(m);
    this.advance();
    return true;
  }

  /**
   * keepingStaged: for one pull timeout after a restart, rows staged before it
   * are not thrown away for another snapshot; the sender of the staged one
   * (under Paxos one of several) is likely to offer it again meanwhile.
   */
  private keepingStaged(): boolean {
    const staged = this.ports.tables.stagingProgress();
    return staged !== null && staged.rows > 0 && this.resumeChecked !== staged.index && this.now() - this.createdMs < this.options.pullTimeoutMs;
  }

  /** want makes `m` the snapshot to stage (any other is forgotten; its staging is cleared when this one begins). */
  private want(m: EngineSnapshotMessage): void {
    this.wanted = { message: m, index: m.snapshot.meta.index, term: m.snapshot.meta.term, startedMs: this.now() };
    this.alternative = null;
    this.pull = null;
  }

  private onChunk(m: Extract<SnapshotTransferMessage, { type: "snapshotChunk" }>): void {
    const pull = this.pull;
    const wanted = this.wanted;
    if (this.writing || pull === null || wanted === null) return;
    if (m.from !== pull.to || m.index !== wanted.index || m.term !== wanted.term) return;
    if (!followsInOrder(pull.afterKey, m.rows) || (m.rows.length === 0 && !m.done)) {
      this.ports.log(`snapshot ${m.index}: ignored a chunk from node ${m.from} whose rows do not follow the last staged key`);
      return;
    }
    this.pull = null;
    let bytes = 0;
    for (const [key, value] of m.rows) bytes += key.length + value.length;
    this.write(this.ports.tables.stageRows(m.rows, m.done), () => this.ports.bytesReceived?.(bytes));
  }

  private onGone(m: Extract<SnapshotTransferMessage, { type: "snapshotGone" }>): void {
    const wanted = this.wanted;
    if (this.writing || wanted === null || wanted.index !== m.index || this.pull?.to !== m.from) return;
    this.ports.log(`snapshot ${m.index}: node ${m.from} no longer holds it; staging cleared, waiting for a newer one`);
    const alternative = this.alternative;
    this.wanted = null;
    this.pull = null;
    this.write(this.ports.tables.clearStaging(), () => {
      if (alternative !== null && this.wanted === null) this.want(alternative);
    });
  }

  /** advance takes the next step toward the wanted snapshot: start staging, pull, or hand it to the engine. */
  private advance(): void {
    const wanted = this.wanted;
    if (this.failed || this.writing || this.installing !== null || wanted === null || this.pull !== null) return;
    if (wanted.index <= this.ports.appliedIndex()) {
      // Installed meanwhile (a copy arrived during the install): the engine answers it; nothing to pull.
      this.wanted = null;
      this.ports.deliver(wanted.message);
      return;
    }
    const progress = this.ports.tables.stagingProgress();
    if (progress?.index !== wanted.index || progress.term !== wanted.term) {
      this.resumeChecked = wanted.index;
      this.ports.log(`snapshot ${wanted.index}: pulling it from node ${wanted.message.from} in chunks of ${this.options.chunkBytesMax} bytes`);
      this.write(this.ports.tables.beginStaging(wanted.index, wanted.term), () => undefined);
      return;
    }
    if (progress.complete) {
      this.deliver(wanted, progress);
      return;
    }
    if (this.resumeChecked !== wanted.index) {
      // Progress that this process did not stage: it survived a restart.
      this.resumeChecked = wanted.index;
      if (progress.afterKey !== null) {
        this.ports.resumed?.();
        this.ports.log(`snapshot ${wanted.index}: resuming after ${progress.rows} staged rows (${progress.bytes} bytes), key ${Buffer.from(progress.afterKey).toString("hex")}`);
      }
    }
    this.pull = { to: wanted.message.from, afterKey: progress.afterKey, sentMs: this.now() };
    const envelope = { groupId: this.options.groupId, from: this.options.self, to: wanted.message.from };
    this.ports.send({ ...envelope, type: "snapshotPull", index: wanted.index, term: wanted.term, afterKey: progress.afterKey });
  }

  private deliver(wanted: Wanted, progress: StagingProgress): void {
    this.wanted = null;
    this.alternative = null;
    this.ports.log(`snapshot ${wanted.index}: staged ${progress.rows} rows (${progress.bytes} bytes) in ${Math.round(this.now() - wanted.startedMs)} ms; installing`);
    this.ports.deliver(wanted.message);
    // The engine took it (it is now its latest snapshot): keep the staging until restore installs it.
    if (this.ports.latestSnapshot()?.meta.index === wanted.index) this.installing = wanted.index;
  }

  /** write runs one staging commit; nothing else happens until it is durable. */
  private write(commit: Promise<void>, durable: () => void): void {
    this.writing = true;
    commit.then(
      () => {
        this.writing = false;
        durable();
        this.advance();
      },
      (error: unknown) => {
        // The storage is failed: the member stops with it; no more transfers.
        this.writing = false;
        this.failed = true;
        this.ports.log(`snapshot staging failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  private now(): number {
    return this.ports.nowMs?.() ?? performance.now();
  }
}

/** newer is the offer of the higher snapshot index (the later one on a tie). */
function newer(a: EngineSnapshotMessage | null, b: EngineSnapshotMessage): EngineSnapshotMessage {
  return a !== null && a.snapshot.meta.index > b.snapshot.meta.index ? a : b;
}

/** followsInOrder says whether `rows` are in strictly increasing key order, all after `afterKey`. */
function followsInOrder(afterKey: Uint8Array | null, rows: readonly SnapshotRow[]): boolean {
  let previous = afterKey;
  for (const [key] of rows) {
    if (previous !== null && Buffer.compare(key, previous) <= 0) return false;
    previous = key;
  }
  return true;
}

/**
 * The deterministic simulator: N replicas of a real engine over a simulated
 * network, disk and clock, driven only by a seed.
 *
 * Model, in brief:
 * - Time is in milliseconds; each node ticks its engine every ~10 ms (its own
 *   period: clocks drift a little). Events at one time run in scheduling order.
 * - A node's turn follows the Ready contract: take `ready()`, write it to the
 *   node's disk (which takes 0..diskLatencyMsMax ms, more on a slow disk; a crash before then loses
 *   the whole Ready and its messages), then send the messages, apply the
 *   committed entries, serve read states, and `advance`. While the disk write
 *   is in flight, inputs for the node wait in its inbox (a blocking fsync).
 * - Peer messages may be lost, delayed, reordered, duplicated or cut by
 *   partitions (symmetric, one-way, bridge, along the joint-config line).
 * - Clients reach nodes over their own links, which peer partitions do not cut:
 *   a client can keep talking to a partitioned old leader, which is exactly
 *   what exposes stale reads. A request to a crashed node is lost.
 * - After the fault phase everything heals (crashed nodes restart, partitions,
 *   loss, duplication, long delays and reordering stop: links become FIFO with
 *   at most one tick of jitter; the
 *   nemesis stops) and the liveness phase must elect a leader and complete every
 *   client's pending operation, plus one new operation per client, within
 *   `livenessTimeouts` election timeouts.
 */
import { applyConfChange } from "../../src/consensus/membership.js";
import { SeededRandom } from "../../src/consensus/random.js";
import { logIndex, nodeId } from "../../src/consensus/types.js";
import type { ConfChangeOp, Engine, Entry, Envelope, Membership, NodeId, ProposeRejection, Ready, Snapshot } from "../../src/consensus/types.js";
import { cloneDisk, durableLastIndex, snapshotIndex } from "./disk.js";
import type { SimDisk } from "./disk.js";
import type { EngineAdapter, EngineChecker } from "./engines.js";
import { entryHash, SafetyChecker } from "./invariants.js";
import type { Violation } from "./invariants.js";
import { decodeCommand, encodeCommand, KvStateMachine } from "./kv.js";
import type { KvOutput } from "./kv.js";
import { checkLinearizable } from "./linearizability/checker.js";
import type { HistoryOp, KvOp } from "./linearizability/checker.js";
import { drawFaultMix, tickMs } from "./mix.js";
import type { FaultMix } from "./mix.js";
import { Links, mask, nodeIdsMax, PartitionShape } from "./network.js";
import { EventQueue } from "./queue.js";
import { Trace, TraceKind } from "./trace.js";

/** livenessTimeouts is the liveness bound, in election timeouts after the heal. */
export const livenessTimeouts = 20;

/** SimOptions says what one seed runs. */
export interface SimOptions {
  readonly seed: number;
  readonly faults?: Readonly<Record<string, boolean>>;
  /** stepBudget bounds the linearizability search per key. */
  readonly stepBudget?: number;
  /** tailLength is how many last events a violation report shows (default 30). */
  readonly tailLength?: number;
}

/** SeedStats are the counters a run reports. */
export interface SeedStats {
  events: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  leaderChanges: number;
  maxTerm: number;
  maxApplied: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  compactions: number;
  snapshotsInstalled: number;
  proposals: number;
  opsOk: number;
  opsIndeterminate: number;
  readsAbandoned: number;
  checkerSteps: number;
}

/**
 * SeedMeasures are what the engine comparison (`--stats`, compare.ts) reads:
 * costs counted over the whole run, every node, every message an engine hands
 * out (lost ones too).
 */
export interface SeedMeasures {
  /** messagesSent counts peer messages the engines handed out. */
  messagesSent: number;
  /** readiesPersisted counts Readies with something to make durable: one fsync each. */
  readiesPersisted: number;
  /** commandsCommitted counts client commands applied for the first time anywhere (no-ops and config entries excluded). */
  commandsCommitted: number;
  /** commitLatencyTicks lists, per write that succeeded, the ticks from `propose` to its apply on the proposing node. */
  readonly commitLatencyTicks: number[];
  /** failoverTicks lists, per crash of a leader, the ticks until something proposed by a newer leader was applied anywhere. */
  readonly failoverTicks: number[];
}

/** SeedResult is the outcome of one seed. */
export interface SeedResult {
  readonly seed: number;
  readonly violations: readonly Violation[];
  readonly unknown: boolean;
  readonly opsChecked: number;
  readonly digest: string;
  readonly ticks: number;
  readonly stats: SeedStats;
  readonly measures: SeedMeasures;
  /** mix summarises the fault mix drawn for the seed. */
  readonly mix: string;
  /** traceTail is the last events, formatted; filled only when there is a violation. */
  readonly traceTail: readonly string[];
  /** history is the client history that was checked. */
  readonly history: readonly HistoryOp[];
}

const Outcome = { ok: 1, redirect: 2, retry: 3, busy: 4 } as const;
type Outcome = (typeof Outcome)[keyof typeof Outcome];

const opKindCode = { put: 1, get: 2, cas: 3, delete: 4 } as const;

const rejectionCode: Readonly<Record<ProposeRejection, number>> = {
  notLeader: 1,
  transferring: 2,
  uncommittedBytesMax: 3,
  entryBytesMax: 4,
  confChangePending: 5,
  invalidConfChange: 6,
};

/** namesByCode inverts a name → code table, for the printed trace tail. */
function namesByCode(table: Readonly<Record<string, number>>): readonly string[] {
  const names: string[] = [];
  for (const [name, code] of Object.entries(table)) names[code] = name;
  return names;
}
const rejectionNames = namesByCode(rejectionCode);
const shapeNames = namesByCode(PartitionShape);

interface ClientRequest {
  readonly client: number;
  readonly opId: number;
  readonly seq: number;
  readonly op: KvOp;
  readonly attempt: number;
}

interface ClientResponse {
  readonly client: number;
  readonly opId: number;
  readonly attempt: number;
  readonly node: number;
  readonly outcome: Outcome;
  readonly output: KvOutput;
  readonly leader: number;
}

/**
 * WriteWaiter is a proposal waiting for its index to be applied. Whether it
 * succeeded is decided by content: the applied entry carries exactly the
 * proposed command (which names its client and sequence number). The term is
 * kept only to check that (index, term) names one proposal: a Paxos leader may
 * re-propose a recovered command under a newer ballot, so the term alone
 * decides nothing.
 */
interface WriteWaiter {
  readonly term: number;
  readonly proposedMs: number;
  readonly data: Uint8Array;
  readonly req: ClientRequest;
}

interface PendingRead {
  readonly requestId: number;
  readonly index: number;
}

type NodeInput<M> = { readonly kind: "msg"; readonly msg: M } | { readonly kind: "req"; readonly req: ClientRequest };

interface SimNode<M extends Envelope, H> {
  readonly id: NodeId;
  readonly disk: SimDisk<H>;
  engine: Engine<M, H> | null;
  kv: KvStateMachine;
  applied: number;
  incarnation: number;
  readonly random: SeededRandom;
  readonly tickMs: number;
  persisting: Ready<M, H> | null;
  turnScheduled: boolean;
  inbox: NodeInput<M>[];
  missedTicks: number;
  writeWaiters: Map<number, WriteWaiter>;
  readWaiters: Map<number, ClientRequest>;
  pendingReads: PendingRead[];
  appliesSinceCompact: number;
  decommissioned: boolean;
  decommissionPending: boolean;
  wasLeader: boolean;
  leaderTerm: number;
}

interface PendingOp {
  readonly id: number;
  readonly seq: number;
  readonly op: KvOp;
  readonly invokeTime: number;
  readonly invokeMs: number;
  readonly afterHeal: boolean;
  timeouts: number;
}

interface SimClient {
  readonly id: number;
  seq: number;
  op: PendingOp | null;
  attempt: number;
  target: number;
  readonly lastSeen: Map<string, string | null>;
  doneAfterHeal: boolean;
}

type SimEvent<M extends Envelope, H> =
  | { readonly k: "tick"; readonly node: SimNode<M, H>; readonly inc: number }
  | { readonly k: "msg"; readonly msg: M }
  | { readonly k: "persisted"; readonly node: SimNode<M, H>; readonly inc: number }
  | { readonly k: "turn"; readonly node: SimNode<M, H>; readonly inc: number }
  | { readonly k: "request"; readonly node: number; readonly req: ClientRequest }
  | { readonly k: "response"; readonly resp: ClientResponse }
  | { readonly k: "attemptTimeout"; readonly client: SimClient; readonly attempt: number }
  | { readonly k: "clientWake"; readonly client: SimClient; readonly attempt: number }
  | { readonly k: "nemesis" }
  | { readonly k: "restart"; readonly node: number }
  | { readonly k: "healPartition"; readonly id: number }
  | { readonly k: "configLinePartition" }
  | { readonly k: "decommission"; readonly node: number }
  | { readonly k: "churn"; readonly node: number; readonly term: number }
  | { readonly k: "figure8Timeout"; readonly epoch: number }
  | { readonly k: "endFaults" }
  | { readonly k: "livenessDeadline" }
  | { readonly k: "livenessCheck" };

const emptyMembership: Membership = { voters: [], votersOutgoing: [], learners: [] };

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isMember(m: Membership, id: number): boolean {
  return m.voters.includes(id as NodeId) || m.votersOutgoing.includes(id as NodeId) || m.learners.includes(id as NodeId);
}

/**
 * foldConfChange computes the membership a committed config entry leads to, by
 * the engines' shared rules. A change that does not apply to the membership
 * before it is a no-op on every replica alike: Raft never commits one (it
 * asserts so), but Multi-Paxos may choose one, when two leaders' proposals for
 * neighbouring slots are both recovered and the second was validated against a
 * view in which the first did not exist.
 */
function foldConfChange(m: Membership, ops: readonly ConfChangeOp[]): Membership {
  const result = applyConfChange(m, { ops });
  return result.ok ? result.membership : m;
}

/**
 * Figure8 is the state of the Figure 8 choreography (Raft paper §5.4.2): a
 * leader is cut off while clients keep writing to it (stage 1); the next
 * leader is cut off the moment it is elected, before its first append leaves
 * (stage 2); when a third leader's commit index first moves, it is cut off at
 * once, before its next appends leave (stage 3), and the second leader comes
 * back (stage 4). A correct engine commits nothing of an old term by counting
 * replicas, so its first commit covers its own no-op and the second leader can
 * no longer win; a faulty one may have applied entries the second overwrites.
 */
interface Figure8 {
  stage: 0 | 1 | 2 | 3 | 4;
  epoch: number;
  first: number;
  second: number;
  third: number;
  commitAtElection: number;
}

/** Simulation runs one seed of one engine. */
export class Simulation<M extends Envelope, H> {
  private readonly adapter: EngineAdapter<M, H>;
  private readonly seed: number;
  private readonly faults: Readonly<Record<string, boolean>>;
  private readonly stepBudget: number;
  private readonly tailLength: number;
  private readonly mix: FaultMix;
  private readonly trace: Trace;
  private readonly checker: SafetyChecker;
  private readonly engineChecker: EngineChecker<M, H> | null;
  private readonly links = new Links();
  private readonly queue = new EventQueue<SimEvent<M, H>>();
  private readonly nodes: (SimNode<M, H> | undefined)[] = [];
  private readonly nodeRandoms: SeededRandom[] = [];
  private readonly clients: SimClient[] = [];
  private readonly history: HistoryOp[] = [];
  private readonly net: SeededRandom;
  private readonly disk: SeededRandom;
  private readonly nemesis: SeededRandom;
  private readonly workload: SeededRandom;
  private now = 0;
  private step = 0;
  private phase: "fault" | "liveness" | "done" = "fault";
  private healMs = 0;
  private lossRate: number;
  private duplicateRate: number;
  private longDelayRate: number;
  /** fifo is set by the heal: from then on each link delivers in order (no reordering). */
  private fifo = false;
  private readonly lastDelivery = new Float64Array((nodeIdsMax + 1) * (nodeIdsMax + 1));
  private partitionId = 0;
  private partitionActive = false;
  private nextOpId = 1;
  private nextReadId = 1;
  private committedMembership: Membership;
  private membershipIndex = 0;
  private livenessViolation: Violation | null = null;
  private readonly figure8: Figure8 = { stage: 0, epoch: 0, first: 0, second: 0, third: 0, commitAtElection: 0 };
  private readonly stats: SeedStats = {
    events: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    leaderChanges: 0,
    maxTerm: 0,
    maxApplied: 0,
    crashes: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    compactions: 0,
    snapshotsInstalled: 0,
    proposals: 0,
    opsOk: 0,
    opsIndeterminate: 0,
    readsAbandoned: 0,
    checkerSteps: 0,
  };
  private readonly measures: SeedMeasures = { messagesSent: 0, readiesPersisted: 0, commandsCommitted: 0, commitLatencyTicks: [], failoverTicks: [] };
  /** failover is the leader crash whose failover is being timed: its term and when it happened. */
  private failover: { readonly term: number; readonly ms: number } | null = null;

  constructor(adapter: EngineAdapter<M, H>, options: SimOptions) {
    this.adapter = adapter;
    this.seed = options.seed;
    this.faults = options.faults ?? {};
    this.stepBudget = options.stepBudget ?? 2_000_000;
    this.tailLength = options.tailLength ?? 30;
    this.trace = new Trace(this.tailLength);
    const root = new SeededRandom(options.seed);
    this.mix = drawFaultMix(root.fork());
    this.net = root.fork();
    this.disk = root.fork();
    this.nemesis = root.fork();
    this.workload = root.fork();
    for (let id = 0; id <= nodeIdsMax; id++) this.nodeRandoms.push(root.fork());
    this.lossRate = this.mix.lossRate;
    this.duplicateRate = this.mix.duplicateRate;
    this.longDelayRate = this.mix.longDelayRate;
    const initial = [nodeId(1), nodeId(2), nodeId(3)];
    this.committedMembership = { voters: initial, votersOutgoing: [], learners: [] };
    this.checker = new SafetyChecker({ termsMatchPrefixes: adapter.termsMatchPrefixes });
    this.engineChecker = adapter.createChecker(this.committedMembership);
  }

  /** run simulates the seed to the end and checks the client history. */
  run(): SeedResult {
    const bootstrap: Membership = { voters: [nodeId(1), nodeId(2), nodeId(3)], votersOutgoing: [], learners: [] };
    for (const id of [1, 2, 3]) this.createNode(id, bootstrap);
    for (let c = 1; c <= this.mix.clients; c++) {
      const client: SimClient = { id: c, seq: 0, op: null, attempt: 0, target: 1 + this.workload.nextInt(3), lastSeen: new Map(), doneAfterHeal: false };
      this.clients.push(client);
      this.queue.push(this.workload.nextInt(this.mix.thinkMsMax + tickMs), { k: "clientWake", client, attempt: 0 });
    }
    this.queue.push(this.mix.nemesisStepMs, { k: "nemesis" });
    this.queue.push(this.mix.faultPhaseMs, { k: "endFaults" });
    this.loop();
    return this.finish();
  }

  private loop(): void {
    const queue = this.queue;
    const trace = this.trace;
    while (queue.size > 0 && this.phase !== "done") {
      const time = queue.peekTime();
      this.now = time;
      trace.now = time;
      const event = queue.pop();
      this.step++;
      this.dispatch(event);
      if (this.checker.violation !== null || this.livenessViolation !== null) break;
    }
  }

  private finish(): SeedResult {
    const violations: Violation[] = [];
    if (this.checker.violation !== null) violations.push(this.checker.violation);
    if (this.livenessViolation !== null) violations.push(this.livenessViolation);
    let unknown = false;
    // The history is checked even after a safety violation stopped the run: it may show what broke.
    for (const client of this.clients) this.abandonForCheck(client);
    const verdict = checkLinearizable(this.history, { stepBudget: this.stepBudget });
    this.stats.checkerSteps = verdict.steps;
    if (verdict.verdict === "violation") {
      violations.push({ invariant: "linearizability", detail: `key ${verdict.key}: ${verdict.explanation}` });
    } else if (verdict.verdict === "unknown") {
      unknown = true;
    }
    this.stats.events = this.trace.events;
    this.stats.maxApplied = this.checker.maxApplied;
    const decode = (field: string, value: number): string | undefined => {
      if (field === "type") return this.adapter.messageTypeNames[value];
      if (field === "outcome") return ["", "ok", "redirect", "retry", "busy"][value];
      if (field === "kind") return ["", "put", "get", "cas", "delete"][value];
      if (field === "reason") return rejectionNames[value];
      if (field === "shape") return shapeNames[value];
      if (field.startsWith("mask")) return value === 0 ? "{}" : `{${[1, 2, 3, 4, 5].filter((id) => (value & (1 << id)) !== 0).join(",")}}`;
      return undefined;
    };
    return {
      seed: this.seed,
      violations,
      unknown,
      opsChecked: this.history.length,
      digest: this.trace.digest(),
      ticks: Math.floor(this.now / tickMs),
      stats: this.stats,
      measures: this.measures,
      mix: this.describeMix(),
      traceTail: violations.length > 0 ? this.trace.tail(this.tailLength, decode) : [],
      history: this.history,
    };
  }

  private describeMix(): string {
    const m = this.mix;
    const p = m.params;
    const pct = (x: number): string => (x * 100).toFixed(1);
    return [
      `clients=${m.clients} keys=${m.keys} preVote=${p.preVote} checkQuorum=${p.checkQuorum} heartbeat=${p.heartbeatTicks}`,
      `appendMax=${p.appendEntriesMax} inflightMax=${p.inflightMessagesMax} uncommittedBytesMax=${p.uncommittedBytesMax} compactEvery=${m.compactEveryApplies}`,
      `loss=${pct(m.lossRate)}% dup=${pct(m.duplicateRate)}% longDelay=${pct(m.longDelayRate)}% disk<=${m.diskLatencyMsMax}ms${m.slowDiskNode === 0 ? "" : ` (node ${m.slowDiskNode} <=${m.slowDiskMsMax}ms)`}`,
      `partition/step=${pct(m.partitionPerStep)}% crash/step=${pct(m.crashPerStep)}% conf/step=${pct(m.confChangePerStep)}% transfer/step=${pct(m.transferPerStep)}%`,
    ].join("\n");
  }

  // ------------------------------------------------------------------ events

  private dispatch(event: SimEvent<M, H>): void {
    switch (event.k) {
      case "tick":
        this.onTick(event.node, event.inc);
        break;
      case "msg":
        this.deliver(event.msg);
        break;
      case "persisted":
        if (event.node.incarnation === event.inc && event.node.persisting !== null) this.completeReady(event.node, event.node.persisting);
        break;
      case "turn":
        if (event.node.incarnation === event.inc) {
          event.node.turnScheduled = false;
          this.takeReady(event.node);
        }
        break;
      case "request":
        this.onRequest(event.node, event.req);
        break;
      case "response":
        this.onResponse(event.resp);
        break;
      case "attemptTimeout":
        this.onAttemptTimeout(event.client, event.attempt);
        break;
      case "clientWake":
        this.onClientWake(event.client, event.attempt);
        break;
      case "nemesis":
        this.onNemesis();
        break;
      case "restart":
        this.restartNode(event.node);
        break;
      case "healPartition":
        if (event.id === this.partitionId && this.partitionActive) this.healPartition();
        break;
      case "configLinePartition":
        this.configLinePartition();
        break;
      case "decommission":
        this.decommission(event.node);
        break;
      case "churn":
        this.churn(event.node, event.term);
        break;
      case "figure8Timeout":
        if (event.epoch === this.figure8.epoch) this.endFigure8();
        break;
      case "endFaults":
        this.endFaults();
        break;
      case "livenessDeadline":
        this.onLivenessDeadline();
        break;
      case "livenessCheck":
        if (this.phase === "liveness") this.checkLivenessDone();
        break;
    }
  }

  // ------------------------------------------------------------------ nodes

  private createNode(id: number, bootstrap: Membership): SimNode<M, H> {
    const random = this.nodeRandoms[id];
    if (random === undefined) throw new Error(`node id ${id} out of range`);
    const node: SimNode<M, H> = {
      id: nodeId(id),
      disk: this.adapter.initialDisk(bootstrap),
      engine: null,
      kv: new KvStateMachine(),
      applied: 0,
      incarnation: 0,
      random,
      tickMs: this.mix.tickMsByNode[id] ?? tickMs,
      persisting: null,
      turnScheduled: false,
      inbox: [],
      missedTicks: 0,
      writeWaiters: new Map(),
      readWaiters: new Map(),
      pendingReads: [],
      appliesSinceCompact: 0,
      decommissioned: false,
      decommissionPending: false,
      wasLeader: false,
      leaderTerm: 0,
    };
    this.nodes[id] = node;
    this.trace.record(TraceKind.nodeCreated, id);
    this.startEngine(node);
    return node;
  }

  /** startEngine (re)starts a node from its durable state only. */
  private startEngine(node: SimNode<M, H>): void {
    node.incarnation++;
    node.engine = this.adapter.create({
      id: node.id,
      disk: cloneDisk(node.disk),
      random: node.random.fork(),
      faults: this.faults,
      params: this.mix.params,
    });
    node.kv = new KvStateMachine();
    const snapshot = node.disk.snapshot;
    if (snapshot !== null) node.kv.restore(snapshot.data);
    node.applied = snapshotIndex(node.disk);
    node.persisting = null;
    node.turnScheduled = false;
    node.inbox = [];
    node.missedTicks = 0;
    node.writeWaiters = new Map();
    node.readWaiters = new Map();
    node.pendingReads = [];
    node.appliesSinceCompact = 0;
    node.wasLeader = false;
    node.leaderTerm = 0;
    const status = node.engine.status();
    this.trace.record(TraceKind.restart, node.id, status.term, durableLastIndex(node.disk), snapshotIndex(node.disk));
    // Each node's first tick comes at a random phase of its period.
    this.queue.push(this.now + 1 + node.random.nextInt(node.tickMs), { k: "tick", node, inc: node.incarnation });
    this.scheduleTurn(node);
  }

  private crashNode(node: SimNode<M, H>): void {
    if (node.engine === null) return;
    this.trace.record(TraceKind.crash, node.id, node.persisting === null ? 0 : 1);
    node.engine = null;
    node.persisting = null;
    node.inbox = [];
    node.incarnation++;
    node.wasLeader = false;
  }

  /** noteLeaderCrash starts timing a failover when the nemesis crashes a leader (unless one is already timed). */
  private noteLeaderCrash(node: SimNode<M, H>): void {
    const status = node.engine?.status();
    if (status?.role !== "leader" || this.failover !== null) return;
    this.failover = { term: status.term, ms: this.now };
  }

  private restartNode(id: number): void {
    const node = this.nodes[id];
    if (node === undefined || node.engine !== null || node.decommissioned) return;
    this.startEngine(node);
  }

  private onTick(node: SimNode<M, H>, inc: number): void {
    const engine = node.engine;
    if (node.incarnation !== inc || engine === null) return;
    this.queue.push(this.now + node.tickMs, { k: "tick", node, inc });
    this.trace.record(TraceKind.tick, node.id);
    if (node.persisting !== null) {
      node.missedTicks++;
      return;
    }
    engine.tick();
    this.observe(node, engine);
    this.scheduleTurn(node);
  }

  private input(node: SimNode<M, H>, input: NodeInput<M>): void {
    if (node.persisting !== null) {
      node.inbox.push(input);
      return;
    }
    this.handleInput(node, input);
    this.scheduleTurn(node);
  }

  private handleInput(node: SimNode<M, H>, input: NodeInput<M>): void {
    const engine = node.engine;
    if (engine === null) return;
    if (input.kind === "msg") {
      engine.step(input.msg);
      this.observe(node, engine);
    } else {
      this.handleRequest(node, engine, input.req);
    }
  }

  /** observe notices a node becoming leader: election safety and leader completeness are checked then. */
  private observe(node: SimNode<M, H>, engine: Engine<M, H>): void {
    const status = engine.status();
    if (this.figure8.stage === 3 && node.id === this.figure8.third && status.commitIndex > this.figure8.commitAtElection) {
      this.figure8Cut(node.id);
    }
    if (status.role !== "leader") {
      node.wasLeader = false;
      return;
    }
    if (node.wasLeader && node.leaderTerm === status.term) return;
    node.wasLeader = true;
    node.leaderTerm = status.term;
    this.stats.leaderChanges++;
    if (status.term > this.stats.maxTerm) this.stats.maxTerm = status.term;
    this.trace.record(TraceKind.becomeLeader, node.id, status.term, status.lastIndex);
    this.checker.observeLeader(node.id, status.term, null);
    this.checker.checkLeaderCompleteness(node.id, status.term, engine);
    if (this.figure8.stage !== 0) this.figure8OnLeader(node.id, status.commitIndex);
    const churn = this.mix.churnAfterElection;
    if (churn > 0 && this.phase === "fault" && this.nemesis.chance(churn)) {
      this.queue.push(this.now + this.nemesis.nextInt(3 * tickMs), { k: "churn", node: node.id, term: status.term });
    }
  }

  private scheduleTurn(node: SimNode<M, H>): void {
    if (node.turnScheduled || node.engine === null || node.persisting !== null) return;
    node.turnScheduled = true;
    this.queue.push(this.now, { k: "turn", node, inc: node.incarnation });
  }

  private takeReady(node: SimNode<M, H>): void {
    const engine = node.engine;
    if (engine === null || node.persisting !== null || !engine.hasReady()) return;
    const ready = engine.ready();
    const latencyMax = node.id === this.mix.slowDiskNode ? this.mix.slowDiskMsMax : this.mix.diskLatencyMsMax;
    const latency = latencyMax === 0 ? 0 : this.disk.nextInt(latencyMax + 1);
    node.persisting = ready;
    // The engine's replication traffic may leave before the disk write: it acknowledges nothing.
    for (const msg of ready.messagesBeforePersist) this.send(node, msg);
    if (latency === 0) this.completeReady(node, ready);
    else this.queue.push(this.now + latency, { k: "persisted", node, inc: node.incarnation });
  }

  /** completeReady does a Ready's work in the contract's order once its disk write is done. */
  private completeReady(node: SimNode<M, H>, ready: Ready<M, H>): void {
    const engine = node.engine;
    if (engine === null) return;
    const adapter = this.adapter;
    const checker = this.checker;
    const before = node.disk.hardState;
    const problem = adapter.persist(node.disk, ready);
    if (problem !== null) {
      checker.violation ??= { invariant: "log matching", detail: `node ${node.id}: ${problem}` };
      return;
    }
    if (ready.hardState !== null || ready.entries.length > 0 || ready.snapshot !== null) this.measures.readiesPersisted++;
    if (ready.hardState !== null || ready.entries.length > 0) {
      const [a, b, c] = adapter.hardStateWords(node.disk.hardState);
      this.trace.record(TraceKind.persist, node.id, a, b, c, ready.entries[0]?.index ?? 0, ready.entries.length);
    }
    checker.checkPersisted(node.id, node.disk, ready.entries);
    if (this.engineChecker !== null) {
      checker.violation ??= this.engineChecker.afterPersist(node.id, ready, before, node.disk);
      if (checker.violation !== null) return;
    }
    if (ready.snapshot !== null) this.installSnapshot(node, ready.snapshot);
    for (const msg of ready.messages) this.send(node, msg);
    for (const entry of ready.committedEntries) {
      this.apply(node, entry);
      if (checker.violation !== null) return;
    }
    for (const rs of ready.readStates) {
      if (rs.index <= node.applied) this.serveRead(node, rs.requestId, rs.index);
      else node.pendingReads.push({ requestId: rs.requestId, index: rs.index });
    }
    for (const requestId of ready.droppedReads) {
      const req = node.readWaiters.get(requestId);
      this.trace.record(TraceKind.readDropped, node.id, requestId);
      if (req === undefined) continue;
      node.readWaiters.delete(requestId);
      this.respond(node, req, Outcome.retry, null, engine.status().leader);
    }
    engine.advance(ready);
    node.persisting = null;
    this.maybeCompact(node, engine);
    if (node.inbox.length > 0) {
      const inbox = node.inbox;
      node.inbox = [];
      for (const input of inbox) this.handleInput(node, input);
    }
    for (; node.missedTicks > 0; node.missedTicks--) engine.tick();
    this.observe(node, engine);
    this.scheduleTurn(node);
  }

  private installSnapshot(node: SimNode<M, H>, snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const data = snapshot.data;
    this.trace.record(TraceKind.snapshotInstall, node.id, index, term);
    this.checker.checkStateAt(node.id, index, data, "installed");
    if (this.engineChecker !== null) this.checker.violation ??= this.engineChecker.noteSnapshot(snapshot.meta);
    if (index <= node.applied) return;
    this.stats.snapshotsInstalled++;
    node.kv.restore(data);
    node.applied = index;
    this.checker.noteSnapshotApplied(index);
    for (const [at, waiter] of node.writeWaiters) {
      if (at > index) continue;
      node.writeWaiters.delete(at);
      this.respond(node, waiter.req, Outcome.retry, null, 0);
    }
    this.servePendingReads(node);
  }

  private maybeCompact(node: SimNode<M, H>, engine: Engine<M, H>): void {
    const every = this.mix.compactEveryApplies;
    if (every === 0 || node.appliesSinceCompact < every) return;
    node.appliesSinceCompact = 0;
    const data = node.kv.snapshot();
    const result = engine.compact(logIndex(node.applied), data);
    this.trace.record(TraceKind.compact, node.id, node.applied, result.ok ? 1 : 0);
    if (!result.ok) return;
    this.stats.compactions++;
    this.checker.checkStateAt(node.id, node.applied, data, "compacted");
    this.adapter.persistCompaction(engine, node.disk);
    const snapshot = engine.latestSnapshot();
    if (this.engineChecker !== null && snapshot !== null) this.checker.violation ??= this.engineChecker.noteSnapshot(snapshot.meta);
  }

  private apply(node: SimNode<M, H>, entry: Entry): void {
    if (entry.index > this.checker.maxApplied && entry.type === "normal" && entry.data.length > 0) this.measures.commandsCommitted++;
    if (this.failover !== null && entry.term > this.failover.term) {
      this.measures.failoverTicks.push((this.now - this.failover.ms) / tickMs);
      this.failover = null;
    }
    this.checker.checkApply(node.id, entry, node.applied);
    if (this.engineChecker !== null) this.checker.violation ??= this.engineChecker.noteApplied(entry);
    if (this.checker.violation !== null) return;
    node.applied = entry.index;
    node.appliesSinceCompact++;
    this.trace.record(TraceKind.apply, node.id, entry.index, entry.term, entryHash(entry));
    let output: KvOutput = null;
    let stale = false;
    if (entry.type === "normal") {
      if (entry.data.length > 0) {
        const result = node.kv.apply(decodeCommand(entry.data));
        if (result.stale) stale = true;
        else output = result.output;
      }
    } else if (entry.index > this.membershipIndex) {
      this.membershipIndex = entry.index;
      this.committedMembership = foldConfChange(this.committedMembership, entry.change.ops);
      this.scheduleDecommissions();
    }
    const waiter = node.writeWaiters.get(entry.index);
    if (waiter !== undefined) {
      node.writeWaiters.delete(entry.index);
      const same = entry.type === "normal" && bytesEqual(entry.data, waiter.data);
      if (!same && entry.term === waiter.term) {
        this.checker.violation ??= {
          invariant: "state machine safety",
          detail: `node ${node.id} proposed client ${waiter.req.client} seq ${waiter.req.seq} at (index ${entry.index}, term ${entry.term}) but applied other content there under that term`,
        };
        return;
      }
      if (same && !stale) this.measures.commitLatencyTicks.push((this.now - waiter.proposedMs) / tickMs);
      this.respond(node, waiter.req, same && !stale ? Outcome.ok : Outcome.retry, output, 0);
    }
    if (node.pendingReads.length > 0) this.servePendingReads(node);
  }

  private servePendingReads(node: SimNode<M, H>): void {
    const still: PendingRead[] = [];
    for (const pending of node.pendingReads) {
      if (pending.index <= node.applied) this.serveRead(node, pending.requestId, pending.index);
      else still.push(pending);
    }
    node.pendingReads = still;
  }

  private serveRead(node: SimNode<M, H>, requestId: number, index: number): void {
    const req = node.readWaiters.get(requestId);
    if (req === undefined) return;
    node.readWaiters.delete(requestId);
    this.trace.record(TraceKind.readServed, node.id, req.client, requestId, index);
    this.respond(node, req, Outcome.ok, node.kv.get(req.op.key), 0);
  }

  // ------------------------------------------------------------------ network

  private send(node: SimNode<M, H>, msg: M): void {
    this.measures.messagesSent++;
    const adapter = this.adapter;
    const problem = adapter.checkSend(msg, node.disk);
    if (problem !== null) {
      this.checker.violation ??= { invariant: "persist before acknowledge", detail: problem };
      return;
    }
    const leaderTerm = adapter.leaderOnlyTerm(msg);
    if (leaderTerm >= 0) this.checker.observeLeader(msg.from, leaderTerm, adapter.messageTypeNames[adapter.messageCode(msg)] ?? "message");
    const net = this.net;
    if (this.links.isBlocked(msg.from, msg.to) || (this.lossRate > 0 && net.chance(this.lossRate))) {
      this.traceMessage(TraceKind.drop, msg);
      this.stats.dropped++;
      return;
    }
    let delay = this.messageDelay();
    if (this.fifo) {
      // Healed links deliver in order: no message overtakes an earlier one on its link.
      const link = msg.from * (nodeIdsMax + 1) + msg.to;
      const at = Math.max(this.now + delay, this.lastDelivery[link] ?? 0);
      this.lastDelivery[link] = at;
      delay = at - this.now;
    }
    this.queue.push(this.now + delay, { k: "msg", msg });
    if (this.duplicateRate > 0 && net.chance(this.duplicateRate)) {
      this.traceMessage(TraceKind.duplicate, msg);
      this.stats.duplicated++;
      this.queue.push(this.now + delay + this.messageDelay(), { k: "msg", msg });
    }
  }

  private messageDelay(): number {
    const m = this.mix;
    const net = this.net;
    // Healed, the network keeps broadcast time well below the election timeout, as Raft's liveness needs.
    const jitter = this.fifo ? Math.min(m.delayMsJitter, tickMs) : m.delayMsJitter;
    let delay = m.delayMsMin + (jitter > 0 ? net.nextInt(jitter + 1) : 0);
    if (this.longDelayRate > 0 && net.chance(this.longDelayRate)) delay += net.nextInt(m.longDelayMsMax + 1);
    return delay;
  }

  private deliver(msg: M): void {
    const node = this.nodes[msg.to];
    if (node === undefined || node.engine === null || this.links.isBlocked(msg.from, msg.to)) {
      this.traceMessage(TraceKind.drop, msg);
      this.stats.dropped++;
      return;
    }
    this.traceMessage(TraceKind.deliver, msg);
    this.stats.delivered++;
    this.input(node, { kind: "msg", msg });
  }

  private traceMessage(kind: TraceKind, msg: M): void {
    const a = this.adapter;
    this.trace.record(kind, msg.from, msg.to, a.messageCode(msg), a.messageTerm(msg), a.messageIndex(msg), a.messageCount(msg));
  }

  // ------------------------------------------------------------------ node side of clients

  private onRequest(id: number, req: ClientRequest): void {
    const node = this.nodes[id];
    if (node === undefined || node.engine === null) return; // lost: the client times out
    this.input(node, { kind: "req", req });
  }

  private handleRequest(node: SimNode<M, H>, engine: Engine<M, H>, req: ClientRequest): void {
    if (req.op.kind === "get") {
      const requestId = this.nextReadId++;
      const result = engine.readIndex(requestId);
      this.trace.record(TraceKind.readIndex, node.id, req.client, requestId, result.ok ? 1 : 0);
      if (result.ok) node.readWaiters.set(requestId, req);
      else this.respond(node, req, result.reason === "noLeader" ? Outcome.redirect : Outcome.busy, null, result.leader);
      return;
    }
    const data = encodeCommand({ client: req.client, seq: req.seq, op: req.op });
    const result = engine.propose(data);
    if (!result.ok) {
      this.trace.record(TraceKind.proposeRejected, node.id, req.client, req.seq, rejectionCode[result.reason], result.leader);
      this.respond(node, req, result.reason === "notLeader" ? Outcome.redirect : Outcome.busy, null, result.leader);
      return;
    }
    this.stats.proposals++;
    this.trace.record(TraceKind.propose, node.id, req.client, req.seq, result.index, result.term);
    const previous = node.writeWaiters.get(result.index);
    // A waiter at the same index belonged to an entry this leader's log has since replaced.
    if (previous !== undefined) this.respond(node, previous.req, Outcome.retry, null, 0);
    node.writeWaiters.set(result.index, { term: result.term, proposedMs: this.now, data, req });
  }

  private respond(node: SimNode<M, H>, req: ClientRequest, outcome: Outcome, output: KvOutput, leader: number): void {
    const resp: ClientResponse = { client: req.client, opId: req.opId, attempt: req.attempt, node: node.id, outcome, output, leader };
    this.queue.push(this.now + 1 + this.net.nextInt(this.mix.clientDelayMsMax), { k: "response", resp });
  }

  // ------------------------------------------------------------------ clients

  private newOp(client: SimClient): KvOp {
    const w = this.workload;
    const [put, get, cas, del] = this.mix.opWeights;
    const key = `k${w.nextInt(this.mix.keys)}`;
    const value = `${client.id}.${client.seq}`;
    let pick = w.nextInt(put + get + cas + del);
    if (pick < put) return { kind: "put", key, value };
    pick -= put;
    if (pick < get) return { kind: "get", key };
    pick -= get;
    if (pick < cas) {
      const seen = client.lastSeen.get(key);
      const expected = seen !== undefined && w.chance(0.8) ? seen : null;
      return { kind: "cas", key, expected, value };
    }
    return { kind: "delete", key };
  }

  private startOp(client: SimClient): void {
    client.seq++;
    const op = this.newOp(client);
    client.op = { id: this.nextOpId++, seq: client.seq, op, invokeTime: this.step, invokeMs: this.now, afterHeal: this.phase !== "fault", timeouts: 0 };
    this.trace.record(TraceKind.clientInvoke, client.id, client.op.id, opKindCode[op.kind], Number(op.key.slice(1)));
    this.sendAttempt(client);
  }

  private sendAttempt(client: SimClient): void {
    const op = client.op;
    if (op === null) return;
    client.attempt++;
    const req: ClientRequest = { client: client.id, opId: op.id, seq: op.seq, op: op.op, attempt: client.attempt };
    this.trace.record(TraceKind.clientRequest, client.id, op.id, client.target, client.attempt);
    this.queue.push(this.now + 1 + this.workload.nextInt(this.mix.clientDelayMsMax), { k: "request", node: client.target, req });
    this.queue.push(this.now + this.mix.attemptTimeoutMs, { k: "attemptTimeout", client, attempt: client.attempt });
  }

  private onClientWake(client: SimClient, attempt: number): void {
    if (client.op === null) {
      if (attempt !== 0) return;
      if (this.phase === "fault" || (this.phase === "liveness" && !client.doneAfterHeal)) this.startOp(client);
      return;
    }
    if (attempt === client.attempt) this.sendAttempt(client);
  }

  /** retry sends the current op again after `delayMs`, to `target`, unless the client gives up first. */
  private retry(client: SimClient, target: number, delayMs: number): void {
    const op = client.op;
    if (op === null) return;
    if (this.phase === "fault" && this.now - op.invokeMs > this.mix.giveUpMs) {
      this.giveUp(client, op);
      return;
    }
    client.target = target;
    // Invalidate the pending timeout; the wake carries the new attempt number.
    client.attempt++;
    this.queue.push(this.now + delayMs, { k: "clientWake", client, attempt: client.attempt });
  }

  private giveUp(client: SimClient, op: PendingOp): void {
    this.trace.record(TraceKind.clientGiveUp, client.id, op.id);
    if (op.op.kind === "get") {
      this.stats.readsAbandoned++;
    } else {
      this.history.push({ id: op.id, client: client.id, op: op.op, invokeTime: op.invokeTime });
      this.stats.opsIndeterminate++;
      client.lastSeen.delete(op.op.key);
    }
    client.op = null;
    client.attempt++;
    this.queue.push(this.now + this.thinkMs(), { k: "clientWake", client, attempt: 0 });
  }

  /** abandonForCheck records a write still pending at the end as indeterminate. */
  private abandonForCheck(client: SimClient): void {
    const op = client.op;
    if (op === null) return;
    if (op.op.kind !== "get") this.history.push({ id: op.id, client: client.id, op: op.op, invokeTime: op.invokeTime });
    client.op = null;
  }

  private thinkMs(): number {
    return this.mix.thinkMsMax === 0 ? 0 : this.workload.nextInt(this.mix.thinkMsMax + 1);
  }

  private otherNode(except: number): number {
    const candidates: number[] = [];
    for (const node of this.nodes) if (node !== undefined && !node.decommissioned && node.id !== except) candidates.push(node.id);
    if (candidates.length === 0) return except;
    return candidates[this.workload.nextInt(candidates.length)] ?? except;
  }

  private knownNode(id: number): boolean {
    const node = this.nodes[id];
    return node !== undefined && !node.decommissioned;
  }

  private onResponse(resp: ClientResponse): void {
    const client = this.clients[resp.client - 1];
    const op = client?.op ?? null;
    if (client === undefined || op === null || op.id !== resp.opId) return;
    this.trace.record(TraceKind.clientResponse, client.id, op.id, resp.node, resp.outcome);
    if (resp.outcome === Outcome.ok) {
      this.complete(client, op, resp.output);
      return;
    }
    if (resp.attempt !== client.attempt) return;
    switch (resp.outcome) {
      case Outcome.redirect:
        if (resp.leader !== 0 && resp.leader !== resp.node && this.knownNode(resp.leader)) this.retry(client, resp.leader, 0);
        else this.retry(client, this.otherNode(resp.node), tickMs + this.workload.nextInt(2 * tickMs));
        break;
      case Outcome.retry:
        this.retry(client, resp.node, this.workload.nextInt(tickMs));
        break;
      case Outcome.busy:
        this.retry(client, resp.node, tickMs + this.workload.nextInt(3 * tickMs));
        break;
    }
  }

  private onAttemptTimeout(client: SimClient, attempt: number): void {
    const op = client.op;
    if (op === null || attempt !== client.attempt) return;
    this.trace.record(TraceKind.clientTimeout, client.id, op.id, client.target, attempt);
    op.timeouts++;
    if (this.phase === "fault" && op.timeouts >= this.mix.timeoutsMax) {
      this.giveUp(client, op);
      return;
    }
    this.retry(client, this.otherNode(client.target), 0);
  }

  private complete(client: SimClient, op: PendingOp, output: KvOutput): void {
    this.history.push({ id: op.id, client: client.id, op: op.op, invokeTime: op.invokeTime, completeTime: this.step, output });
    this.trace.record(TraceKind.clientComplete, client.id, op.id, output === null ? 0 : output === true ? 1 : output === false ? 2 : 3);
    this.stats.opsOk++;
    const key = op.op.key;
    if (op.op.kind === "get") client.lastSeen.set(key, output as string | null);
    else if (op.op.kind === "put") client.lastSeen.set(key, op.op.value);
    else if (op.op.kind === "delete") client.lastSeen.set(key, null);
    else if (output === true) client.lastSeen.set(key, op.op.value);
    else client.lastSeen.delete(key);
    client.op = null;
    client.attempt++;
    if (this.phase === "liveness") {
      if (op.afterHeal) client.doneAfterHeal = true;
      if (client.doneAfterHeal) {
        this.checkLivenessDone();
        return;
      }
    }
    this.queue.push(this.now + this.thinkMs(), { k: "clientWake", client, attempt: 0 });
  }

  // ------------------------------------------------------------------ nemesis

  private runningNodes(): SimNode<M, H>[] {
    const out: SimNode<M, H>[] = [];
    for (const node of this.nodes) if (node !== undefined && node.engine !== null) out.push(node);
    return out;
  }

  /** findLeader returns the running node that is leader of the highest term, if any. */
  private findLeader(): { node: SimNode<M, H>; engine: Engine<M, H> } | null {
    let best: { node: SimNode<M, H>; engine: Engine<M, H> } | null = null;
    let bestTerm = -1;
    for (const node of this.nodes) {
      const engine = node?.engine;
      if (node === undefined || engine === undefined || engine === null) continue;
      const status = engine.status();
      if (status.role === "leader" && status.term > bestTerm) {
        best = { node, engine };
        bestTerm = status.term;
      }
    }
    return best;
  }

  private onNemesis(): void {
    if (this.phase !== "fault") return;
    this.queue.push(this.now + this.mix.nemesisStepMs, { k: "nemesis" });
    const r = this.nemesis;
    const m = this.mix;
    if (m.partitionPerStep > 0 && !this.partitionActive && r.chance(m.partitionPerStep)) this.startPartition();
    if (m.crashPerStep > 0 && r.chance(m.crashPerStep)) this.crashSome();
    if (m.confChangePerStep > 0 && r.chance(m.confChangePerStep)) this.changeMembership();
    if (m.transferPerStep > 0 && r.chance(m.transferPerStep)) this.transferLeadership();
    if (m.figure8PerStep > 0 && this.figure8.stage === 0 && !this.partitionActive && r.chance(m.figure8PerStep)) this.startFigure8();
  }

  // ------------------------------------------------------------------ Figure 8 choreography

  /** isolate cuts `ids` off from every other node, replacing any partition; it lasts until healed. */
  private isolate(ids: readonly number[]): void {
    this.links.clear();
    const rest = this.liveIds().filter((id) => !ids.includes(id));
    this.links.blockBoth(ids, rest);
    this.partitionActive = true;
    this.partitionId++;
    this.stats.partitions++;
    this.trace.record(TraceKind.partition, PartitionShape.figure8, mask(ids), mask(rest), 0);
  }

  private startFigure8(): void {
    const leader = this.findLeader();
    if (leader === null) return;
    const f = this.figure8;
    f.stage = 1;
    f.epoch++;
    f.first = leader.node.id;
    this.isolate([f.first]);
    this.queue.push(this.now + 8 * this.mix.params.electionTimeoutTicks * tickMs, { k: "figure8Timeout", epoch: f.epoch });
  }

  private figure8OnLeader(id: number, commitIndex: number): void {
    const f = this.figure8;
    if (f.stage === 1 && id !== f.first) {
      f.stage = 2;
      f.second = id;
      this.isolate([id]);
    } else if (f.stage === 2 && id !== f.second) {
      f.stage = 3;
      f.third = id;
      f.commitAtElection = commitIndex;
    } else {
      return;
    }
    f.epoch++;
    this.queue.push(this.now + 8 * this.mix.params.electionTimeoutTicks * tickMs, { k: "figure8Timeout", epoch: f.epoch });
  }

  private figure8Cut(id: number): void {
    const f = this.figure8;
    f.stage = 4;
    f.epoch++;
    this.isolate([id]);
    this.queue.push(this.now + 5 * this.mix.params.electionTimeoutTicks * tickMs, { k: "figure8Timeout", epoch: f.epoch });
  }

  private endFigure8(): void {
    this.figure8.stage = 0;
    this.figure8.epoch++;
    if (this.partitionActive) this.healPartition();
  }

  private liveIds(): number[] {
    const out: number[] = [];
    for (const node of this.nodes) if (node !== undefined && !node.decommissioned) out.push(node.id);
    return out;
  }

  private shuffled(ids: readonly number[]): number[] {
    const out = ids.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nemesis.nextInt(i + 1);
      const t = out[i] as number;
      out[i] = out[j] as number;
      out[j] = t;
    }
    return out;
  }

  private startPartition(): void {
    const r = this.nemesis;
    const ids = this.shuffled(this.liveIds());
    if (ids.length < 2) return;
    const leader = this.findLeader();
    let shape: PartitionShape;
    let a: number[];
    let b: number[];
    let bridge: number[] = [];
    switch (r.nextInt(6)) {
      case 0: {
        shape = PartitionShape.symmetric;
        const cut = 1 + r.nextInt(ids.length - 1);
        a = ids.slice(0, cut);
        b = ids.slice(cut);
        this.links.blockBoth(a, b);
        break;
      }
      case 1: {
        shape = PartitionShape.isolateLeader;
        const isolated = leader?.node.id ?? (ids[0] as number);
        a = [isolated];
        b = ids.filter((id) => id !== isolated);
        this.links.blockBoth(a, b);
        break;
      }
      case 2: {
        const victim = r.chance(0.5) && leader !== null ? leader.node.id : (ids[0] as number);
        a = [victim];
        b = ids.filter((id) => id !== victim);
        if (r.chance(0.5)) {
          shape = PartitionShape.oneWayOut;
          this.links.blockOneWay(a, b);
        } else {
          shape = PartitionShape.oneWayIn;
          this.links.blockOneWay(b, a);
        }
        break;
      }
      case 3: {
        if (ids.length < 3) return;
        shape = PartitionShape.bridge;
        bridge = [ids[0] as number];
        const rest = ids.slice(1);
        const cut = 1 + r.nextInt(rest.length - 1);
        a = rest.slice(0, cut);
        b = rest.slice(cut);
        this.links.blockBoth(a, b);
        break;
      }
      case 4: {
        shape = PartitionShape.randomLinks;
        a = [];
        b = [];
        for (const from of ids) for (const to of ids) if (from !== to && r.chance(0.3)) this.links.blockLink(from, to);
        break;
      }
      default: {
        // Cut the leader with a minority it can still reach clients from (it keeps serving them).
        shape = PartitionShape.isolateLeader;
        const isolated = leader?.node.id ?? (ids[0] as number);
        const others = ids.filter((id) => id !== isolated);
        const companions = others.slice(0, Math.max(0, Math.floor((ids.length - 1) / 2) - 1));
        a = [isolated, ...companions];
        b = others.filter((id) => !companions.includes(id));
        this.links.blockBoth(a, b);
        break;
      }
    }
    this.partitionActive = this.links.active;
    if (!this.partitionActive) return;
    this.partitionId++;
    this.stats.partitions++;
    this.trace.record(TraceKind.partition, shape, mask(a), mask(b), mask(bridge));
    this.queue.push(this.now + tickMs + r.nextInt(this.mix.partitionMsMax), { k: "healPartition", id: this.partitionId });
  }

  /** configLinePartition separates the outgoing-only voters of a joint configuration from the rest. */
  private configLinePartition(): void {
    if (this.phase !== "fault" || this.partitionActive) return;
    const leader = this.findLeader();
    if (leader === null) return;
    const m = leader.engine.status().membership;
    const outgoingOnly = m.votersOutgoing.filter((id) => !m.voters.includes(id));
    if (outgoingOnly.length === 0) return;
    const rest = this.liveIds().filter((id) => !outgoingOnly.includes(id as NodeId));
    this.links.blockBoth(outgoingOnly, rest);
    this.partitionActive = this.links.active;
    this.partitionId++;
    this.stats.partitions++;
    this.trace.record(TraceKind.partition, PartitionShape.configLine, mask(outgoingOnly), mask(rest), 0);
    this.queue.push(this.now + tickMs + this.nemesis.nextInt(this.mix.partitionMsMax), { k: "healPartition", id: this.partitionId });
  }

  private healPartition(): void {
    this.links.clear();
    this.partitionActive = false;
    this.trace.record(TraceKind.heal);
  }

  private crashSome(): void {
    const r = this.nemesis;
    const running = this.runningNodes();
    const down = this.liveIds().length - running.length;
    if (down >= this.mix.downNodesMax || running.length === 0) return;
    const leader = this.findLeader();
    const victim = leader !== null && r.chance(0.4) ? leader.node : running[r.nextInt(running.length)];
    if (victim === undefined) return;
    this.stats.crashes++;
    this.noteLeaderCrash(victim);
    this.crashNode(victim);
    this.queue.push(this.now + 1 + r.nextInt(this.mix.downMsMax), { k: "restart", node: victim.id });
  }

  /** churn crashes, or cuts off from its peers, a leader shortly after its election, if it still leads that term. */
  private churn(id: number, term: number): void {
    const node = this.nodes[id];
    const engine = node?.engine;
    if (this.phase !== "fault" || node === undefined || engine === undefined || engine === null) return;
    const status = engine.status();
    if (status.role !== "leader" || status.term !== term) return;
    const r = this.nemesis;
    const down = this.liveIds().length - this.runningNodes().length;
    if (down < this.mix.downNodesMax && r.chance(0.5)) {
      this.stats.crashes++;
      this.noteLeaderCrash(node);
      this.crashNode(node);
      this.queue.push(this.now + 1 + r.nextInt(this.mix.downMsMax), { k: "restart", node: id });
      return;
    }
    if (this.partitionActive) return;
    const others = this.liveIds().filter((other) => other !== id);
    this.links.blockBoth([id], others);
    this.partitionActive = true;
    this.partitionId++;
    this.stats.partitions++;
    this.trace.record(TraceKind.partition, PartitionShape.isolateLeader, mask([id]), mask(others), 0);
    this.queue.push(this.now + tickMs + r.nextInt(this.mix.partitionMsMax), { k: "healPartition", id: this.partitionId });
  }

  private transferLeadership(): void {
    const leader = this.findLeader();
    if (leader === null) return;
    const voters = leader.engine.status().membership.voters.filter((id) => id !== leader.node.id);
    const to = voters[this.nemesis.nextInt(Math.max(1, voters.length))];
    if (to === undefined) return;
    const result = leader.engine.transferLeadership(to);
    this.trace.record(TraceKind.transfer, leader.node.id, to, result.ok ? 1 : 0);
    if (result.ok) this.stats.transfers++;
    this.scheduleTurn(leader.node);
  }

  /**
   * changeMembership proposes one membership change through the leader. Rules:
   * node ids stay within 1..5; a voter is removed only while more than three
   * remain (down to two, rarely); the leader itself may be removed; several ops
   * in one change go through joint consensus, and then, sometimes, the network
   * is cut along the line between the old and the new voters.
   */
  private changeMembership(): void {
    const leader = this.findLeader();
    if (leader === null) return;
    const m = leader.engine.status().membership;
    if (m.votersOutgoing.length > 0) return;
    const r = this.nemesis;
    const voters = m.voters.map(Number);
    const learners = m.learners.map(Number);
    const outsiders: number[] = [];
    for (let id = 1; id <= nodeIdsMax; id++) if (!voters.includes(id) && !learners.includes(id)) outsiders.push(id);
    const pick = (ids: readonly number[]): number | undefined => ids[r.nextInt(Math.max(1, ids.length))];
    const canRemoveVoter = voters.length > 3 || (voters.length === 3 && r.chance(0.15));
    const options: ConfChangeOp[][] = [];
    const outsider = pick(outsiders);
    const learner = pick(learners);
    const voter = pick(voters);
    if (outsider !== undefined) options.push([{ type: "addLearner", node: nodeId(outsider) }]);
    if (learner !== undefined) options.push([{ type: "addVoter", node: nodeId(learner) }], [{ type: "removeNode", node: nodeId(learner) }]);
    if (outsider !== undefined && r.chance(0.3)) options.push([{ type: "addVoter", node: nodeId(outsider) }]);
    if (voter !== undefined && canRemoveVoter) options.push([{ type: "removeNode", node: nodeId(voter) }]);
    const newcomers = this.shuffled([...learners, ...outsiders]);
    const leaving = this.shuffled(voters);
    const first = newcomers[0];
    const second = newcomers[1];
    if (first !== undefined && leaving[0] !== undefined) {
      options.push([
        { type: "addVoter", node: nodeId(first) },
        { type: "removeNode", node: nodeId(leaving[0]) },
      ]);
    }
    if (first !== undefined && second !== undefined && leaving[0] !== undefined && leaving[1] !== undefined) {
      options.push([
        { type: "addVoter", node: nodeId(first) },
        { type: "addVoter", node: nodeId(second) },
        { type: "removeNode", node: nodeId(leaving[0]) },
        { type: "removeNode", node: nodeId(leaving[1]) },
      ]);
    }
    if (outsiders.length >= 2) {
      options.push([
        { type: "addLearner", node: nodeId(outsiders[0] as number) },
        { type: "addLearner", node: nodeId(outsiders[1] as number) },
      ]);
    }
    const ops = options[r.nextInt(Math.max(1, options.length))];
    if (ops === undefined) return;
    const result = leader.engine.proposeConfChange({ ops });
    let code = 0;
    for (const op of ops) code = code * 16 + (op.type === "addVoter" ? 1 : op.type === "addLearner" ? 2 : 3) * 5 + op.node;
    this.trace.record(TraceKind.confChange, leader.node.id, result.ok ? 1 : 0, code, result.ok ? result.index : 0);
    this.scheduleTurn(leader.node);
    if (!result.ok) return;
    this.stats.confChanges++;
    for (const op of ops) if (op.type !== "removeNode") this.ensureNode(op.node);
    const votersChange = ops.some((op) => op.type !== "addLearner");
    if (votersChange && ops.length > 1 && this.mix.partitionPerStep > 0 && r.chance(0.5)) {
      this.queue.push(this.now + r.nextInt(3 * tickMs), { k: "configLinePartition" });
    }
  }

  /** ensureNode makes sure a node being added exists and runs: brand new, or back from decommission. */
  private ensureNode(id: number): void {
    const node = this.nodes[id];
    if (node === undefined) {
      this.createNode(id, emptyMembership);
      return;
    }
    node.decommissionPending = false;
    if (node.decommissioned) {
      node.decommissioned = false;
      if (node.engine === null) this.startEngine(node);
    }
  }

  /**
   * scheduleDecommissions follows the committed membership: a node it no longer
   * names is shut down a little later; a decommissioned node it names again (a
   * re-add that committed after the node was shut down) is started again.
   */
  private scheduleDecommissions(): void {
    for (const node of this.nodes) {
      if (node === undefined) continue;
      if (isMember(this.committedMembership, node.id)) {
        if (node.decommissioned) {
          node.decommissioned = false;
          if (node.engine === null) this.startEngine(node);
        }
        continue;
      }
      if (node.decommissioned || node.decommissionPending) continue;
      node.decommissionPending = true;
      this.queue.push(this.now + 3 * this.mix.params.electionTimeoutTicks * tickMs, { k: "decommission", node: node.id });
    }
  }

  /** decommission shuts down a node that a committed change removed; it restarts only if added again. */
  private decommission(id: number): void {
    const node = this.nodes[id];
    if (node === undefined || !node.decommissionPending) return;
    node.decommissionPending = false;
    if (isMember(this.committedMembership, id)) return;
    // A configuration still in flight that names the node (a re-add not yet
    // committed) needs it running, as an operator adding it would keep it up.
    if (this.inFlightConfigNames(id)) {
      node.decommissionPending = true;
      this.queue.push(this.now + 3 * this.mix.params.electionTimeoutTicks * tickMs, { k: "decommission", node: id });
      return;
    }
    this.trace.record(TraceKind.decommission, id);
    this.crashNode(node);
    node.decommissioned = true;
  }

  /** inFlightConfigNames says whether a running leader's latest configuration (a change it proposed) has `id` as a member. */
  private inFlightConfigNames(id: number): boolean {
    for (const node of this.nodes) {
      if (node?.engine === null || node === undefined || node.id === id) continue;
      const status = node.engine.status();
      if (status.role === "leader" && isMember(status.membership, id)) return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ phases

  private endFaults(): void {
    this.phase = "liveness";
    this.figure8.stage = 0;
    this.figure8.epoch++;
    this.healMs = this.now;
    this.trace.record(TraceKind.phase, 2);
    this.lossRate = 0;
    this.duplicateRate = 0;
    this.longDelayRate = 0;
    this.fifo = true;
    if (this.partitionActive) this.healPartition();
    for (const node of this.nodes) if (node !== undefined && node.engine === null && !node.decommissioned) this.startEngine(node);
    // Idle clients already have a wake-up pending: each starts one more op, after the heal.
    const boundMs = livenessTimeouts * this.mix.params.electionTimeoutTicks * tickMs;
    this.queue.push(this.now + boundMs, { k: "livenessDeadline" });
  }

  /** describeNodes summarises every node's state, for a liveness report. */
  private describeNodes(): string {
    const lines: string[] = [];
    const list = (ids: readonly number[]): string => `[${ids.join(",")}]`;
    for (const node of this.nodes) {
      if (node === undefined) continue;
      const engine = node.engine;
      if (engine === null) {
        lines.push(`    node ${node.id}: down${node.decommissioned ? " (decommissioned)" : ""}`);
        continue;
      }
      const s = engine.status();
      const m = s.membership;
      lines.push(
        `    node ${node.id}: ${s.role} term=${s.term} leader=${s.leader} commit=${s.commitIndex} applied=${s.appliedIndex} log=[${s.firstIndex},${s.lastIndex}] ` +
          `voters=${list(m.voters)} outgoing=${list(m.votersOutgoing)} learners=${list(m.learners)} durableLast=${durableLastIndex(node.disk)}`,
      );
    }
    const c = this.committedMembership;
    lines.push(`    committed membership (index ${this.membershipIndex}): voters=${list(c.voters)} outgoing=${list(c.votersOutgoing)} learners=${list(c.learners)}`);
    return lines.join("\n");
  }

  private checkLivenessDone(): void {
    for (const client of this.clients) if (!client.doneAfterHeal) return;
    if (this.findLeader() === null) {
      // Every client is done but no leader stands right now: look again a tick later.
      this.queue.push(this.now + tickMs, { k: "livenessCheck" });
      return;
    }
    this.phase = "done";
    this.trace.record(TraceKind.phase, 3);
  }

  private onLivenessDeadline(): void {
    if (this.phase !== "liveness") return;
    const leader = this.findLeader();
    const pending = this.clients.filter((c) => !c.doneAfterHeal).map((c) => c.id);
    const bound = livenessTimeouts * this.mix.params.electionTimeoutTicks;
    const parts: string[] = [];
    if (leader === null) parts.push("no leader");
    if (pending.length > 0) parts.push(`clients ${pending.join(",")} still waiting`);
    this.livenessViolation = {
      invariant: "liveness",
      detail: `${bound} ticks after the heal at t=${this.healMs}ms: ${parts.join("; ") || "not done"}\n${this.describeNodes()}`,
    };
  }
}
